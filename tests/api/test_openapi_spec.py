"""openapi/openapi.json is a spec clients can generate from: readable ids, valid examples, codes, headers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from service.api.responses import problem_example_codes
from service.domain.errors import BrokerError, ProblemCode

SPEC = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())
PROBLEM_MEDIA_TYPE = "application/problem+json"
READABLE_ID = re.compile(r"^[a-z]+(?:[A-Z][a-z]*)*$")


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    # The document itself is the root, so that "#/components/schemas/…" references resolve.
    return jsonschema.Draft202012Validator({**schema, "components": SPEC["components"]})


def _subclasses(cls: type[BrokerError]) -> set[type[BrokerError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_operation_ids_are_readable_and_unique() -> None:
    ids = [operation["operationId"] for _, _, operation in _operations()]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert READABLE_ID.match(operation_id), operation_id
    assert {"getCredentials", "presignUrl", "presignBatch", "presignPost", "listGrants", "signOut"} <= set(
        ids
    )


@pytest.mark.parametrize(
    ("path", "method", "operation"), [taking for taking in _operations() if "requestBody" in taking[2]]
)
def test_every_request_body_has_examples_valid_against_its_schema(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    for media_type, media in operation["requestBody"]["content"].items():
        assert media.get("examples"), f"{method.upper()} {path} {media_type} has no examples"
        for name, example in media["examples"].items():
            errors = list(_validator(media["schema"]).iter_errors(example["value"]))
            assert not errors, (path, name, errors)


@pytest.mark.parametrize(("path", "method", "operation"), list(_operations()))
def test_every_answer_with_a_body_has_examples_valid_against_its_schema(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    for status, response in operation["responses"].items():
        for media_type, media in response.get("content", {}).items():
            assert media.get("examples"), f"{method.upper()} {path} {status} {media_type} has no examples"
            for name, example in media["examples"].items():
                errors = list(_validator(media.get("schema", {})).iter_errors(example["value"]))
                assert not errors, (path, status, name, errors)


def test_problem_answers_are_documented_as_problem_json_only() -> None:
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path != "/readyz":
                assert set(response["content"]) == {PROBLEM_MEDIA_TYPE}, (method, path, status)
                schema = response["content"][PROBLEM_MEDIA_TYPE]["schema"]
                assert schema == {"$ref": "#/components/schemas/ProblemResponse"}


def test_problem_schema_lists_every_stable_code_as_an_enum() -> None:
    schemas = SPEC["components"]["schemas"]
    code = schemas["ProblemResponse"]["properties"]["code"]
    assert code == {"$ref": "#/components/schemas/ProblemCode"}
    assert schemas["ProblemCode"]["enum"] == [member.value for member in ProblemCode]
    raised = {cls.code for cls in _subclasses(BrokerError)}
    assert raised <= set(schemas["ProblemCode"]["enum"])


def test_problem_examples_cover_every_code_with_its_status_and_title() -> None:
    shown = problem_example_codes()
    assert set(shown) == set(ProblemCode)
    for cls in _subclasses(BrokerError):
        if "code" in vars(cls):
            assert shown[cls.code] == (cls.status, cls.title), cls.__name__


@pytest.mark.parametrize(("path", "method", "operation"), list(_operations()))
def test_headers_the_app_sets_are_declared_on_the_answers_that_carry_them(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    for status, response in operation["responses"].items():
        headers = set(response.get("headers", {}))
        assert {"X-Request-ID", "X-Content-Type-Options"} <= headers, (path, status)
        if path.startswith("/v1/"):
            assert {"Cache-Control", "Pragma"} <= headers, (path, status)
        if status in {"429", "503"} and path != "/readyz":
            assert "Retry-After" in headers, (path, status)
        if status == "401":
            assert "WWW-Authenticate" in headers, (path, status)
    for reference in SPEC["components"]["headers"]:
        assert SPEC["components"]["headers"][reference]["schema"]


@pytest.mark.parametrize(
    ("path", "status", "header"),
    [
        ("/v1/credentials", "429", "Retry-After"),
        ("/v1/credentials", "503", "Retry-After"),
        ("/v1/presign/batch", "401", "WWW-Authenticate"),
        ("/v1/grants", "200", "Cache-Control"),
    ],
)
def test_declared_headers_resolve_to_their_definitions(path: str, status: str, header: str) -> None:
    operation = next(iter(SPEC["paths"][path].values()))
    reference = operation["responses"][status]["headers"][header]["$ref"]
    assert reference == f"#/components/headers/{header}"
    assert SPEC["components"]["headers"][header]["required"] is True
