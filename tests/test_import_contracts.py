"""Each import-linter contract can fail: one forbidden import in a copy of the code breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# (contract id, module of the copy, the forbidden import appended to it)
PROBES = [
    ("layers", "service/domain/access.py", "import service.broker"),
    ("layers", "service/domain/access.py", "import service.adapters.clock"),
    ("layers", "service/broker/policy.py", "import service.adapters.clock"),
    ("layers", "service/adapters/clock.py", "import service.broker.policy"),
    ("layers", "service/broker/policy.py", "import service.api.health"),
    ("broker-steps", "service/broker/opening.py", "import service.broker.sessions"),
    ("broker-steps", "service/broker/upstream.py", "import service.broker.data_access"),
    ("settings-no-adapters", "service/settings.py", "import service.adapters.clock"),
    ("domain-no-sdk", "service/domain/access.py", "import boto3"),
    ("broker-no-adapters", "service/api/health.py", "import service.adapters.clock"),
    ("request-path-no-setup", "service/broker/policy.py", "import service.setup.validation"),
    ("broker-no-clients", "service/adapters/clock.py", "import service.clients.login"),
    ("clients-over-http", "service/clients/login.py", "import service.domain.access"),
]


def contract_ids() -> list[str]:
    """Return the ids of the contracts pyproject.toml declares."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [contract["id"] for contract in config["tool"]["importlinter"]["contracts"]]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """Copy the service package and pyproject.toml to a directory of their own."""
    shutil.copytree(ROOT / "service", tmp_path / "service", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(copy: Path, contract: str) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the copy (and nothing else on its path) for one contract."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run(  # noqa: S603 - runs the venv's own lint-imports on a copy of this repo
        [str(LINT_IMPORTS), "--no-cache", "--contract", contract, str(copy / "pyproject.toml")],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_contracts_each_have_a_probe() -> None:
    assert sorted(set(contract_ids())) == sorted({contract for contract, _, _ in PROBES})


def test_import_contracts_are_kept_by_the_clean_copy(copy: Path) -> None:
    for contract in contract_ids():
        result = lint_imports(copy, contract)

        assert result.returncode == 0, result.stdout + result.stderr
        assert "KEPT" in result.stdout


@pytest.mark.parametrize(("contract", "module", "statement"), PROBES)
def test_import_contract_breaks_when_a_forbidden_import_is_added(
    copy: Path, contract: str, module: str, statement: str
) -> None:
    with (copy / module).open("a") as source:
        source.write(f"\n{statement}  # the forbidden import of this probe\n")

    result = lint_imports(copy, contract)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
