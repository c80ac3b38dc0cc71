"""Commands run on a user's machine: `login`/`logout`, the credentials `agent`, `credential-process`.

They talk to an OIDC issuer and a running broker over HTTP only; nothing here imports the broker itself.
"""
