"""tip-broker: turns a user's OIDC ID token into S3 access scoped to that user (IAM Identity Center TIP)."""
