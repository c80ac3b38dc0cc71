"""moto's IAM refuses `sts:SetContext` in a trust policy given to UpdateAssumeRolePolicy; AWS accepts it
(trusted identity propagation needs it: docs/aws.md#assumerole). Installed once
when the emulator's dispatcher is built."""

from __future__ import annotations

from typing import Final

from moto.iam.policy_validation import IAMTrustPolicyDocumentValidator

# Actions of a trust policy AWS accepts that moto's validator does not list.
_MISSING_TRUST_ACTIONS: Final = frozenset({"sts:SetContext"})
_original = IAMTrustPolicyDocumentValidator._validate_trust_policy_action


def _validate_trust_policy_action(action: str) -> None:
    if action not in _MISSING_TRUST_ACTIONS:
        _original(action)


def accept_set_context() -> None:
    """Let UpdateAssumeRolePolicy take `sts:SetContext` as AWS does (idempotent)."""
    IAMTrustPolicyDocumentValidator._validate_trust_policy_action = staticmethod(  # type: ignore[method-assign]
        _validate_trust_policy_action
    )
