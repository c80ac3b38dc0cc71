"""Deployment artefacts (Docker Compose, Helm chart, plain Kubernetes manifests) and their generator."""
