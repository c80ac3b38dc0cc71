"""Corrections to moto where it departs from AWS, applied once when an emulator starts."""

from __future__ import annotations

from moto.iam.policy_validation import IAMTrustPolicyDocumentValidator

_original_trust_action_check = IAMTrustPolicyDocumentValidator._validate_trust_policy_action


def _trust_action_check(action: str) -> None:
    # AWS accepts sts:SetContext in trust policies (docs/aws.md#assumerole); moto's list lacks it, so
    # UpdateAssumeRolePolicy of an identity-bearer role would fail with MalformedPolicyDocument.
    if action != "sts:SetContext":
        _original_trust_action_check(action)


def apply() -> None:
    """Install the corrections (idempotent)."""
    IAMTrustPolicyDocumentValidator._validate_trust_policy_action = staticmethod(_trust_action_check)  # type: ignore[method-assign]
