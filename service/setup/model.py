"""What a setup file asks for, once validated: frozen specs, each remembering the line it came from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

TAG_KEY = "tip-broker:setup"
READ_WRITE_SCOPE = "s3:access_grants:read_write"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - an OAuth grant type, not a secret
CUSTOM_PROVIDER = "arn:aws:sso::aws:applicationProvider/custom"

GranteeKind = Literal["user", "group", "iam_role"]


@dataclass(frozen=True)
class IssuerSpec:
    """The trusted token issuer: whose ID tokens Identity Center accepts, and how it maps them to users."""

    name: str
    issuer_url: str
    claim: str
    identity_store_attribute: str
    line: int = 0


@dataclass(frozen=True)
class ApplicationSpec:
    """The customer-managed OAuth application the broker exchanges tokens through."""

    name: str
    audiences: tuple[str, ...]
    principals: tuple[str, ...]
    description: str = ""
    enabled: bool = True
    refresh_token: bool = True
    access_scopes: tuple[str, ...] = (READ_WRITE_SCOPE,)
    assignment_required: bool = False
    assigned_users: tuple[str, ...] = ()
    assigned_groups: tuple[str, ...] = ()
    line: int = 0
    assignment_lines: dict[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class GroupSpec:
    """An Identity Store group this setup creates."""

    name: str
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class UserSpec:
    """An Identity Store user this setup creates (for IdPs without SCIM provisioning)."""

    user_name: str
    given_name: str
    family_name: str
    display_name: str
    email: str | None = None
    groups: tuple[str, ...] = ()
    line: int = 0
    group_lines: tuple[int, ...] = ()


@dataclass(frozen=True)
class BearerRoleSpec:
    """The identity-bearer role: the broker assumes it with the user's identity context."""

    name: str
    principals: tuple[str, ...]
    max_session_duration: int = 3600
    access_grants_instances: tuple[str, ...] = ()  # empty: this account's instance in the region
    line: int = 0


@dataclass(frozen=True)
class LocationSpec:
    """A registered S3 Access Grants location."""

    name: str
    scope: str
    line: int = 0


@dataclass(frozen=True)
class Grantee:
    """Who a grant is for: a directory user or group by name, or an IAM role by name or ARN."""

    kind: GranteeKind
    name: str


@dataclass(frozen=True)
class GrantSpec:
    """One access grant: location, sub-prefix, grantee, permission, optional application restriction."""

    location: str
    grantee: Grantee
    permission: str
    sub_prefix: str | None = None
    application: str | None = None  # "this" or an application ARN
    object: bool = False
    line: int = 0
    grantee_line: int = 0


@dataclass(frozen=True)
class AccessGrantsSpec:
    """The account's Access Grants instance, its location role, locations and grants."""

    location_role: str
    identity_center: bool = True
    location_policy: dict[str, Any] | None = None
    locations: tuple[LocationSpec, ...] = ()
    grants: tuple[GrantSpec, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class SetupSpec:
    """The whole setup file."""

    name: str
    region: str | None = None
    instance_arn: str | None = None
    issuer: IssuerSpec | None = None
    application: ApplicationSpec | None = None
    groups: tuple[GroupSpec, ...] = ()
    users: tuple[UserSpec, ...] = ()
    bearer_role: BearerRoleSpec | None = None
    access_grants: AccessGrantsSpec | None = None
    broker_settings: tuple[tuple[str, str], ...] = ()

    def emptied(self) -> SetupSpec:
        """Return the same setup asking for nothing: planning it deletes everything this setup owns."""
        return replace(
            self,
            issuer=None,
            application=None,
            groups=(),
            users=(),
            bearer_role=None,
            access_grants=None,
        )

    def role_names(self) -> tuple[str, ...]:
        """Return the IAM roles the file declares (identity-bearer role, location role)."""
        names = [self.bearer_role.name] if self.bearer_role else []
        if self.access_grants is not None:
            names.append(self.access_grants.location_role)
        return tuple(names)

    @property
    def tag(self) -> dict[str, str]:
        """Return the ownership tag every taggable resource of this setup carries."""
        return {"Key": TAG_KEY, "Value": self.name}

    @property
    def marker(self) -> str:
        """Return the ownership marker kept in fields where AWS has no tags (directory users and groups)."""
        return f"{TAG_KEY}={self.name}"
