"""`tip-broker setup`: Identity Center, IAM and S3 Access Grants for the broker, from one YAML file."""
