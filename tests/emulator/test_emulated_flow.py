"""The whole chain once: Cognito login → CreateTokenWithIAM → AssumeRole → GetDataAccess → S3 GetObject."""

from __future__ import annotations

from typing import Any


def test_flow_alice_reads_her_object_with_vended_credentials(
    config: dict[str, Any], user_session: Any, client_for: Any, make_session: Any
) -> None:
    s3c = client_for(user_session("alice"), "s3control")
    resp = s3c.get_data_access(
        AccountId=config["account_id"], Target="s3://demo-data/users/alice/*", Permission="READ"
    )
    s3 = client_for(make_session(resp["Credentials"]), "s3")

    body = s3.get_object(Bucket="demo-data", Key="users/alice/notes.txt")["Body"].read()

    assert body == b"alice's notes\n"
