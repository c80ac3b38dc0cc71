"""tip-emulator installs and works alone: a fresh venv with only it and pytest runs the fixture's tests.

The venv (its dependencies from PyPI) is cached under the temp directory, keyed by the hash of
emulator/pyproject.toml; the emulator itself is reinstalled from a copy of the current source every run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "emulator"
FIXTURE_TESTS = Path(__file__).with_name("test_tip_emulator_fixture.py")


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # Nothing of the repository's environment: no PYTHONPATH, no active venv.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(  # noqa: S603 - our own interpreter and pip on our own source
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


def _copy_source(into: Path) -> Path:
    """Copy emulator/ (the distribution's directory) alone, following the LICENSE link."""
    target = into / "tip-emulator"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        SOURCE, target, symlinks=False, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    )
    return target


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Return a venv holding tip-emulator (from the current source) and pytest, and not the broker."""
    python = shutil.which("python3.11")
    if python is None:
        pytest.skip("python3.11 is not on PATH: the fresh venv cannot be made")
    digest = hashlib.sha256((SOURCE / "pyproject.toml").read_bytes()).hexdigest()[:16]
    home = Path(tempfile.gettempdir()) / f"tip-emulator-venv-{digest}"
    ready = home / ".tip-emulator-ready"
    source = _copy_source(tmp_path_factory.mktemp("src"))
    home.parent.mkdir(parents=True, exist_ok=True)
    with (home.parent / f"tip-emulator-venv-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time for the shared cache
        pip = [str(home / "bin" / "python"), "-m", "pip", "install", "-q"]
        if not ready.exists():
            shutil.rmtree(home, ignore_errors=True)
            made = _run([python, "-m", "venv", str(home)], cwd=source.parent)
            assert made.returncode == 0, made.stderr
            done = _run([*pip, f"{source}[pytest]"], cwd=source.parent, timeout=900)
            assert done.returncode == 0, done.stderr[-3000:]
            ready.touch()
        else:
            done = _run([*pip, "--no-deps", "--force-reinstall", str(source)], cwd=source.parent)
            assert done.returncode == 0, done.stderr[-3000:]
        yield home


def test_broker_is_not_in_the_venv(venv: Path, tmp_path: Path) -> None:
    done = _run([str(venv / "bin" / "python"), "-c", "import service"], cwd=tmp_path)
    assert done.returncode != 0
    assert "No module named 'service'" in done.stderr
    names = _run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"], cwd=tmp_path
    ).stdout.lower()
    assert "tip-emulator==" in names
    assert "moto==" in names
    assert "tip-broker" not in names


def test_console_script_is_installed(venv: Path, tmp_path: Path) -> None:
    done = _run([str(venv / "bin" / "tip-emulator"), "--help"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--scenario" in done.stdout
    assert "--empty" in done.stdout


def test_fixture_runs_the_tip_chain_and_the_clock_in_the_fresh_venv(venv: Path, tmp_path: Path) -> None:
    shutil.copy(FIXTURE_TESTS, tmp_path / FIXTURE_TESTS.name)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # this directory is the rootdir: no repo config
    done = _run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", FIXTURE_TESTS.name],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout
