"""Operator configuration (the README's table): environment variables and .env, validated once at start-up."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.domain.cache_key import decode_cache_key
from service.domain.cache_sizes import DEFAULT_ACTIVE_USERS, CacheSizes
from service.domain.redis_url import SUPPORTED_SCHEMES, RedisOptions, parse_target, topology_of
from service.domain.token_algorithms import SUPPORTED_ALGORITHMS

# GetDataAccess and AssumeRole both accept 900–43200 seconds (docs/aws.md#assumerole-limits, #getdataaccess).
MIN_AWS_DURATION = 900
MAX_AWS_DURATION = 43200


class ConfigurationError(Exception):
    """The configuration is incomplete or unsafe; the message says how to fix it."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class OidcIssuer(BaseModel):
    """One trusted ID-token issuer: its audiences, keys, claims and Identity Center application."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    audiences: list[str] = Field(min_length=1)
    jwks_url: str | None = None
    token_use: str | None = "id"  # noqa: S105 - a claim value, not a password
    mapping_claim: str | None = "email"
    require_email_verified: bool = True
    application_arn: str | None = None

    @property
    def keys_url(self) -> str:
        """Return the configured JWKS URL or the issuer's conventional one."""
        return self.jwks_url or f"{self.issuer.rstrip('/')}/.well-known/jwks.json"


class Settings(BaseSettings):
    """Every knob of the broker; names and defaults are the operator contract in the README."""

    model_config = SettingsConfigDict(env_prefix="BROKER_", env_file=".env", extra="ignore", frozen=True)

    oidc_issuer: str = ""
    oidc_audience: Annotated[list[str], NoDecode] = Field(default_factory=list)
    oidc_jwks_url: str = ""
    oidc_token_use: str = "id"  # noqa: S105 - a claim value, not a password
    oidc_leeway_seconds: int = Field(default=60, ge=0, le=600)
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RS256"])
    oidc_mapping_claim: str = "email"
    oidc_require_email_verified: bool = True
    oidc_max_token_lifetime_seconds: int = Field(default=86400, ge=60, le=86400)
    oidc_issuers: list[OidcIssuer] = Field(default_factory=list)

    idc_application_arn: str = ""
    idc_region: str = ""
    identity_bearer_role_arn: str = ""
    access_grants_account_id: str = ""
    aws_region: str = Field(default="", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")

    redis_url: str | None = None
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_tls_ca_file: str | None = None
    redis_tls_cert_file: str | None = None
    redis_tls_key_file: str | None = None
    cache_key: str | None = None

    session_duration_seconds: int = Field(default=3600, ge=MIN_AWS_DURATION, le=MAX_AWS_DURATION)
    data_access_duration_seconds: int = Field(default=3600, ge=MIN_AWS_DURATION, le=MAX_AWS_DURATION)
    min_remaining_seconds: int = Field(default=900, ge=0, le=MAX_AWS_DURATION)
    denied_cache_seconds: int = Field(default=60, ge=0, le=3600)
    upstream_calls_per_minute: int = Field(default=300, ge=0, le=1_000_000)
    requests_per_minute: int = Field(default=0, ge=0, le=1_000_000)
    admin_token: str | None = None
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    aws_max_workers: int = Field(default=16, ge=1, le=256)
    upstream_breaker_failures: int = Field(default=5, ge=0, le=10_000)
    upstream_breaker_window_seconds: int = Field(default=10, ge=1, le=3600)
    upstream_breaker_open_seconds: int = Field(default=30, ge=1, le=3600)
    grant_events_queue_url: str | None = None
    grant_events_wait_seconds: int = Field(default=10, ge=1, le=20)

    max_body_bytes: int = Field(default=1048576, ge=1024, le=64 * 1024 * 1024)
    max_header_bytes: int = Field(default=16384, ge=1024, le=1024 * 1024)
    body_timeout_seconds: float = Field(default=10, gt=0, le=600)
    keepalive_timeout_seconds: int = Field(default=5, ge=1, le=600)
    max_concurrent_requests: int = Field(default=256, ge=0, le=1_000_000)
    active_users: int = Field(default=DEFAULT_ACTIVE_USERS, ge=100, le=10_000_000)
    shutdown_delay_seconds: int = Field(default=0, ge=0, le=600)
    shutdown_drain_seconds: int = Field(default=40, ge=1, le=3600)

    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    hot_access_log_rate: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            for name in ("oidc_audience", "oidc_algorithms", "cors_allow_origins"):
                if name in data:
                    data[name] = _split_csv(data[name])
        return data

    @property
    def jwks_url(self) -> str:
        """Return the configured JWKS URL or the issuer's conventional one."""
        return self.oidc_jwks_url or f"{self.oidc_issuer.rstrip('/')}/.well-known/jwks.json"

    @property
    def identity_center_region(self) -> str:
        """Return Identity Center's region: BROKER_IDC_REGION, else AWS_REGION."""
        return self.idc_region or self.aws_region

    @property
    def broker_account_id(self) -> str:
        """Return the identity-bearer role's account (S3 Access Grants' caller), else the configured one."""
        parts = self.identity_bearer_role_arn.split(":")
        if len(parts) > 4 and len(parts[4]) == 12 and parts[4].isdigit():
            return parts[4]
        return self.access_grants_account_id

    def issuers(self) -> list[OidcIssuer]:
        """Return every trusted issuer: the BROKER_OIDC_* one first (when set), then BROKER_OIDC_ISSUERS."""
        single = (
            [
                OidcIssuer(
                    issuer=self.oidc_issuer,
                    audiences=self.oidc_audience,
                    jwks_url=self.jwks_url,
                    token_use=self.oidc_token_use or None,
                    mapping_claim=self.oidc_mapping_claim or None,
                    require_email_verified=self.oidc_require_email_verified,
                )
            ]
            if self.oidc_issuer and self.oidc_audience
            else []
        )
        return single + list(self.oidc_issuers)

    def cache_key_bytes(self) -> bytes | None:
        """Return the decoded 32-byte cache key, or None when unset."""
        if not self.cache_key:
            return None
        try:
            return decode_cache_key(self.cache_key)
        except ValueError as exc:
            raise ConfigurationError(f"BROKER_CACHE_KEY: {exc}") from None

    def missing(self) -> list[str]:
        """Return the names of required variables that are unset."""
        required: dict[str, object] = {
            "BROKER_IDC_APPLICATION_ARN": self.idc_application_arn,
            "BROKER_IDENTITY_BEARER_ROLE_ARN": self.identity_bearer_role_arn,
            "BROKER_ACCESS_GRANTS_ACCOUNT_ID": self.access_grants_account_id,
            "AWS_REGION": self.aws_region,
        }
        if not self.oidc_issuers:
            required = {
                "BROKER_OIDC_ISSUER": self.oidc_issuer,
                "BROKER_OIDC_AUDIENCE": self.oidc_audience,
                **required,
            }
        return [name for name, value in required.items() if not value]

    def check(self) -> None:
        """Refuse incomplete or unsafe configuration with a message that says how to fix it."""
        problems = [f"{name} is required" for name in self.missing()]
        if self.oidc_issuer and not self.oidc_issuer.startswith(("https://", "http://")):
            problems.append("BROKER_OIDC_ISSUER must be an http(s) URL")
        problems += self._issuer_problems()
        if self.access_grants_account_id and not (
            len(self.access_grants_account_id) == 12 and self.access_grants_account_id.isdigit()
        ):
            problems.append("BROKER_ACCESS_GRANTS_ACCOUNT_ID must be a 12-digit AWS account id")
        if self.redis_url and not self.cache_key:
            problems.append(
                "BROKER_REDIS_URL is set but BROKER_CACHE_KEY is not: cached credentials would be "
                "unreadable by other replicas; set BROKER_CACHE_KEY to the same base64 32-byte key on "
                "every replica"
            )
        problems += self._redis_problems()
        if self.session_duration_seconds <= self.min_remaining_seconds:
            problems.append(
                "BROKER_SESSION_DURATION_SECONDS must be greater than BROKER_MIN_REMAINING_SECONDS, "
                "or every identity session would be renewed on every request"
            )
        if self.data_access_duration_seconds <= self.min_remaining_seconds:
            problems.append(
                "BROKER_DATA_ACCESS_DURATION_SECONDS must be greater than BROKER_MIN_REMAINING_SECONDS"
            )
        unknown_algs = set(self.oidc_algorithms) - SUPPORTED_ALGORITHMS
        if unknown_algs or not self.oidc_algorithms:
            problems.append(
                f"BROKER_OIDC_ALGORITHMS accepts {', '.join(sorted(SUPPORTED_ALGORITHMS))}, comma-separated"
            )
        if self.admin_token is not None and len(self.admin_token) < 32:
            problems.append(
                "BROKER_ADMIN_TOKEN must be at least 32 characters (e.g. python -c "
                '"import secrets;print(secrets.token_urlsafe(32))"), or unset to disable the operator API'
            )
        try:
            self.cache_key_bytes()
        except ConfigurationError as exc:
            problems.append(str(exc))
        if problems:
            raise ConfigurationError("invalid configuration:\n  - " + "\n  - ".join(problems))

    def cache_sizes(self) -> CacheSizes:
        """Return the entry limits of the in-process caches for ``BROKER_ACTIVE_USERS``."""
        return CacheSizes(self.active_users)

    def redis_options(self) -> RedisOptions:
        """Return what BROKER_REDIS_URL cannot say: TLS files and the ACL user kept out of the URL."""
        return RedisOptions(
            ca_file=self.redis_tls_ca_file,
            cert_file=self.redis_tls_cert_file,
            key_file=self.redis_tls_key_file,
            username=self.redis_username,
            password=self.redis_password.get_secret_value() if self.redis_password else None,
        )

    def _redis_problems(self) -> list[str]:
        # Messages never repeat the URL: it may hold a password.
        if not self.redis_url:
            return []
        try:
            if topology_of(self.redis_url) != "single":
                parse_target(self.redis_url)
        except ValueError as exc:
            return [f"BROKER_REDIS_URL: {exc} (forms: {', '.join(SUPPORTED_SCHEMES)})"]
        tls = self.redis_url.lower().startswith("rediss")
        files = {
            "BROKER_REDIS_TLS_CA_FILE": self.redis_tls_ca_file,
            "BROKER_REDIS_TLS_CERT_FILE": self.redis_tls_cert_file,
            "BROKER_REDIS_TLS_KEY_FILE": self.redis_tls_key_file,
        }
        problems = [
            f"{name} is set but BROKER_REDIS_URL does not use TLS (rediss://, rediss+sentinel://, "
            "rediss+cluster://)"
            for name, value in files.items()
            if value and not tls
        ]
        if bool(self.redis_tls_cert_file) != bool(self.redis_tls_key_file):
            problems.append("BROKER_REDIS_TLS_CERT_FILE and BROKER_REDIS_TLS_KEY_FILE go together")
        return problems

    def _issuer_problems(self) -> list[str]:
        issuers = [entry.issuer for entry in self.issuers()]
        problems = [
            f"BROKER_OIDC_ISSUERS: issuer {issuer!r} must be an http(s) URL"
            for issuer in issuers
            if not issuer.startswith(("https://", "http://"))
        ]
        if len(set(issuers)) != len(issuers):
            problems.append("BROKER_OIDC_ISSUERS: each issuer may appear once (BROKER_OIDC_ISSUER included)")
        return problems


def load_settings() -> Settings:
    """Read settings from the environment, turning pydantic's errors into a ConfigurationError."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()]
        raise ConfigurationError("invalid configuration:\n  - " + "\n  - ".join(lines)) from exc
