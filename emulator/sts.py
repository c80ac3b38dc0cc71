"""STS `AssumeRole` (with Identity Center `ProvidedContexts`) and `GetCallerIdentity`, query protocol."""

from __future__ import annotations

import base64
import fnmatch
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from emulator.permissions import as_list, iam_role
from emulator.state import Credential, EmulatorState, IdentityContext, Role, new_access_key, new_secret
from emulator.wire import (
    STS_AUTH,
    STS_NS,
    AwsError,
    AwsRequest,
    authenticate,
    error_response,
    iso8601,
    request_id,
)

IDC_PROVIDER_ARN = "arn:aws:iam::aws:contextProvider/IdentityCenter"
SESSION_NAME_RE = re.compile(r"[\w+=,.@-]{2,64}")
ROLE_CHAINING_MAX = 3600  # role chaining caps DurationSeconds at one hour (docs/aws.md#assumerole-limits)
EMULATED_ACTIONS = frozenset({"AssumeRole", "GetCallerIdentity"})


def form_params(req: AwsRequest) -> dict[str, str]:
    """Return the query-protocol parameters from the form body and the query string."""
    params = dict(req.query)
    if req.body:
        params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


# AWS session tokens are standard base64, so they hold '+', '/' and '=' that a presigned URL must
# percent-encode, and they run to about a thousand characters; AWS fixes no size (docs/aws.md#session-tokens).
_SESSION_TOKEN_BYTES = 721  # 964 base64 characters, ending in "=="


def session_token() -> str:
    """Return a fresh opaque session token shaped like AWS's: long, standard base64."""
    return "IQoJb3JpZ2luX2VjE" + base64.b64encode(secrets.token_bytes(_SESSION_TOKEN_BYTES)).decode()


def principal_arn(credential: Credential) -> str:
    """Return `aws:PrincipalArn`: the role ARN for role sessions, else the principal ARN."""
    return credential.role_arn or credential.arn


def _principal_matches(principal: Any, caller: Credential) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    candidates = {
        principal_arn(caller),
        caller.arn,
        caller.account_id,
        f"arn:aws:iam::{caller.account_id}:root",
    }
    return any(p == "*" or p in candidates for p in as_list(principal.get("AWS", [])))


def _action_matches(action: Any, wanted: str) -> bool:
    return any(fnmatch.fnmatchcase(wanted.lower(), str(a).lower()) for a in as_list(action))


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, entries in conditions.items():
        op = operator.split(":")[-1]
        for key, expected in entries.items():
            actual = context.get(key)
            if actual is None:
                return False
            values = [str(v) for v in as_list(expected)]
            if op in ("StringEquals", "ArnEquals"):
                ok = actual in values
            elif op in ("StringLike", "ArnLike"):
                ok = any(fnmatch.fnmatchcase(actual, v) for v in values)
            elif op == "StringNotEquals":
                ok = actual not in values
            else:
                return False  # unsupported operators never grant access
            if not ok:
                return False
    return True


def policy_allows(
    document: dict[str, Any],
    caller: Credential,
    action: str,
    context: dict[str, str],
    resource: str | None = None,
) -> bool:
    """Evaluate a resource policy (a trust policy, an ActorPolicy) for one caller and action.

    An explicit Deny wins, else any Allow; a statement naming a `Resource` must match ``resource``.
    """
    allowed = False
    for statement in as_list(document.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        if not _principal_matches(statement.get("Principal"), caller):
            continue
        if not _action_matches(statement.get("Action", []), action):
            continue
        if resource is not None and "Resource" in statement and not _resource_matches(statement, resource):
            continue
        if not _conditions_hold(statement.get("Condition", {}), context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def _resource_matches(statement: dict[str, Any], resource: str) -> bool:
    return any(fnmatch.fnmatchcase(resource, str(r)) for r in as_list(statement["Resource"]))


def trust_allows(role: Role, caller: Credential, action: str, context: dict[str, str]) -> bool:
    """Evaluate the role's trust policy for one action: an explicit Deny wins, else any Allow."""
    return policy_allows(role.trust_policy, caller, action, context)


def _validation(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


class StsHandler:
    """Serve the STS operations the broker uses; everything else goes to moto."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def handle(self, req: AwsRequest) -> Response:
        """Dispatch an emulated STS action."""
        params = form_params(req)
        req.operation = params.get("Action", "Unknown")
        try:
            caller = authenticate(self.state, req, STS_AUTH)
            if req.operation == "AssumeRole":
                return self._assume_role(req, caller, params)
            return self._get_caller_identity(caller)
        except AwsError as err:
            req.annotations["error"] = err.code
            return error_response("query", err)

    def _get_caller_identity(self, caller: Credential) -> Response:
        xml = (
            f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
            f"<Arn>{escape(caller.arn)}</Arn><UserId>{escape(caller.user_id)}</UserId>"
            f"<Account>{caller.account_id}</Account></GetCallerIdentityResult>"
            f"<ResponseMetadata><RequestId>{request_id()}</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        )
        return Response(xml, status=200, content_type="text/xml")

    def _provided_context(self, params: dict[str, str]) -> IdentityContext | None:
        indexes = sorted(
            {
                int(m.group(1))
                for k in params
                if (m := re.fullmatch(r"ProvidedContexts\.member\.(\d+)\.\w+", k))
            }
        )
        if not indexes:
            return None
        if len(indexes) > 5:
            raise _validation("ProvidedContexts must contain at most 5 items")
        found: IdentityContext | None = None
        for i in indexes:
            provider = params.get(f"ProvidedContexts.member.{i}.ProviderArn", "")
            assertion = params.get(f"ProvidedContexts.member.{i}.ContextAssertion", "")
            if provider != IDC_PROVIDER_ARN:
                raise AwsError(
                    "InvalidContextAssertion", "The provided context provider is not trusted.", 400
                )
            with self.state.lock:
                ctx = self.state.contexts.get(assertion)
            if ctx is None:
                raise AwsError("InvalidContextAssertion", "The provided context assertion is malformed.", 400)
            if ctx.expires_at <= self.state.now():
                raise AwsError("InvalidContextAssertion", "The provided context assertion has expired.", 400)
            found = ctx
        return found

    def _assume_role(self, req: AwsRequest, caller: Credential, params: dict[str, str]) -> Response:
        role_arn = params.get("RoleArn", "")
        session_name = params.get("RoleSessionName", "")
        if not SESSION_NAME_RE.fullmatch(session_name):
            raise _validation(
                f"1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and length 2-64"
            )
        try:
            duration = int(params.get("DurationSeconds", "3600"))
        except ValueError as exc:
            raise _validation("DurationSeconds must be an integer") from exc
        if not 900 <= duration <= 43200:
            raise _validation(
                f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy "
                "constraint: Member must have value between 900 and 43200"
            )
        context = self._provided_context(params)
        role = iam_role(role_arn)
        denied = AwsError(
            "AccessDenied",
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            403,
        )
        if role is None:
            raise denied
        cond: dict[str, str] = {
            "aws:PrincipalArn": principal_arn(caller),
            "aws:PrincipalAccount": caller.account_id,
        }
        if context is not None:
            cond.update(
                {
                    "sts:RequestContext/identitystore:UserId": context.user_id,
                    "sts:RequestContext/identitystore:IdentityStoreArn": context.identity_store_arn,
                    "sts:RequestContext/identitycenter:ApplicationArn": context.application_arn,
                    "sts:RequestContext/identitycenter:InstanceArn": context.instance_arn,
                    "sts:RequestContextProviders": IDC_PROVIDER_ARN,
                }
            )
        if not trust_allows(role, caller, "sts:AssumeRole", cond):
            raise denied
        if context is not None and not trust_allows(role, caller, "sts:SetContext", cond):
            raise AwsError(
                "AccessDenied",
                f"User: {caller.arn} is not authorized to perform: sts:SetContext on resource: {role_arn}",
                403,
            )
        if duration > role.max_session_duration:
            raise _validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        if caller.kind != "iam_user" and duration > ROLE_CHAINING_MAX:
            raise _validation(
                "The requested DurationSeconds exceeds the 1 hour session limit "
                "for roles assumed by role chaining."
            )
        credential = self.state.register(
            Credential(
                access_key=new_access_key("ASIA"),
                secret_key=new_secret(),
                kind="role_session",
                arn=f"arn:aws:sts::{role_arn.split(':')[4]}:assumed-role/{role.name}/{session_name}",
                user_id=f"{role.role_id}:{session_name}",
                account_id=role_arn.split(":")[4],
                session_token=session_token(),
                expires_at=self.state.now() + duration,
                role_arn=role_arn,
                session_name=session_name,
                identity=context,
            )
        )
        if context is not None:
            req.annotations["on_behalf_of"] = context.user_id
        return Response(
            self._assume_role_xml(credential, params.get("SourceIdentity")), content_type="text/xml"
        )

    def _assume_role_xml(self, credential: Credential, source_identity: str | None) -> str:
        source = f"<SourceIdentity>{escape(source_identity)}</SourceIdentity>" if source_identity else ""
        return (
            f'<AssumeRoleResponse xmlns="{STS_NS}"><AssumeRoleResult>{source}'
            f"<AssumedRoleUser><AssumedRoleId>{escape(credential.user_id)}</AssumedRoleId>"
            f"<Arn>{escape(credential.arn)}</Arn></AssumedRoleUser>"
            f"<Credentials><AccessKeyId>{credential.access_key}</AccessKeyId>"
            f"<SecretAccessKey>{escape(credential.secret_key)}</SecretAccessKey>"
            f"<SessionToken>{escape(credential.session_token or '')}</SessionToken>"
            f"<Expiration>{iso8601(credential.expires_at or 0)}</Expiration></Credentials>"
            "<PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>"
            f"<ResponseMetadata><RequestId>{request_id()}</RequestId></ResponseMetadata></AssumeRoleResponse>"
        )
