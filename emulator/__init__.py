"""Local stand-in for the AWS side of trusted identity propagation (IdC OIDC, STS, Access Grants, S3)."""

__version__ = "0.1.0"
