"""openapi/openapi.json must be exactly what the app generates."""

from __future__ import annotations

from pathlib import Path

from service.__main__ import render_openapi

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_openapi_document_matches_committed_file() -> None:
    assert COMMITTED.read_text() == render_openapi(), (
        "openapi/openapi.json is stale: run `make openapi` and commit the result"
    )


def test_openapi_documents_problem_responses_for_credentials() -> None:
    document = render_openapi()
    assert '"application/problem+json"' in document
    assert '"/v1/presign/batch"' in document
