"""docker-compose.yml and its haproxy config: replicas behind a load balancer, Redis with AOF, one shared
cache key from an env file, build targets and health checks that exist; `docker compose config` and
`haproxy -c` accept them where those binaries are installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bench import stack as processes
from service.settings import Settings
from tests.deploy.dockerfile import ROOT, stages

COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_DIR = ROOT / "deploy" / "compose"
HAPROXY = COMPOSE_DIR / "haproxy.cfg"


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def _services() -> dict[str, Any]:
    services: dict[str, Any] = _compose()["services"]
    return services


def _served_paths() -> set[str]:
    return set(json.loads((ROOT / "openapi" / "openapi.json").read_text())["paths"])


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _healthcheck_path(service: dict[str, Any]) -> str:
    (url,) = re.findall(r"http://127\.0\.0\.1:\d+(/[\w/]+)", " ".join(service["healthcheck"]["test"]))
    return str(url)


def _haproxy_lines() -> list[str]:
    return [line.split("#")[0].strip() for line in HAPROXY.read_text().splitlines()]


def test_every_built_service_names_a_dockerfile_stage_and_the_others_an_image() -> None:
    names = {each.name for each in stages()}
    for name, service in _services().items():
        if "build" in service:
            assert service["build"]["context"] == "."
            assert service["build"]["target"] in names, name
        else:
            assert ":" in service["image"], f"{name}: pin the image's tag"
    assert _services()["broker"]["build"]["target"] == "runtime"
    assert _services()["emulator"]["build"]["target"] == "emulator"


def test_several_broker_replicas_are_reached_only_through_the_load_balancer() -> None:
    broker, lb = _services()["broker"], _services()["lb"]
    assert broker["deploy"]["replicas"] >= 2
    assert "ports" not in broker  # replicas cannot share a published port: the load balancer owns it
    assert lb["ports"] == ["8080:8080"]
    (mount,) = lb["volumes"]
    assert (ROOT / mount.split(":")[0]).resolve() == HAPROXY


def test_load_balancer_sends_to_the_broker_service_port_and_checks_readyz() -> None:
    lines = _haproxy_lines()
    (template,) = [line for line in lines if line.startswith("server-template")]
    host, port = template.split()[-1].split(":")
    broker_command = _services()["broker"]["command"]
    assert host == "broker"
    assert host in _services()
    assert port == _option(broker_command, "--port")
    assert "option httpchk GET /readyz" in lines
    assert "/readyz" in _served_paths()
    # Only a request that never reached a replica is sent again: a POST that did may have spent its token.
    assert "retry-on conn-failure" in lines


def test_redis_keeps_an_append_only_file_on_a_volume_and_never_evicts() -> None:
    redis = _services()["redis"]
    command = redis["command"]
    assert _option(command, "--appendonly") == "yes"
    assert _option(command, "--maxmemory-policy") == "noeviction"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert any(volume.split(":")[0] in _compose()["volumes"] for volume in redis["volumes"])


def test_replicas_share_one_cache_key_from_an_uncommitted_env_file() -> None:
    broker = _services()["broker"]
    assert broker["env_file"] == ["deploy/compose/broker.env"]
    assert "BROKER_CACHE_KEY" not in broker["environment"]  # never inlined in the committed file
    assert "deploy/compose/broker.env" in (ROOT / ".gitignore").read_text().splitlines()
    example = (COMPOSE_DIR / "broker.env.example").read_text()
    assert "BROKER_CACHE_KEY=generate-me" in example.splitlines()
    assert broker["environment"]["BROKER_REDIS_URL"].startswith("redis://redis:")


def test_broker_settings_in_the_compose_file_exist_and_the_grace_period_outlasts_the_drain() -> None:
    environment = _services()["broker"]["environment"]
    known = {f"BROKER_{name.upper()}" for name in Settings.model_fields}
    assert {name for name in environment if name.startswith("BROKER_")} <= known
    grace = int(_services()["broker"]["stop_grace_period"].removesuffix("s"))
    drain = int(environment["BROKER_SHUTDOWN_DELAY_SECONDS"]) + int(
        environment["BROKER_SHUTDOWN_DRAIN_SECONDS"]
    )
    assert grace > drain


def test_broker_healthcheck_uses_a_served_route() -> None:
    assert _healthcheck_path(_services()["broker"]) == "/healthz"
    assert "/healthz" in _served_paths()


def test_emulator_healthcheck_route_answers_on_a_running_emulator(tmp_path: Path) -> None:
    path = _healthcheck_path(_services()["emulator"])
    with processes.emulator(log_dir=tmp_path) as emulator:
        assert httpx.get(f"{emulator.url}{path}", timeout=5).status_code == 200


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        plugin = subprocess.run(
            ["docker", "compose", "version"],  # noqa: S607 - the docker CLI found on PATH
            capture_output=True,
            check=False,
            timeout=30,
        )
        if plugin.returncode == 0:
            return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    # A copy, with the env file `make compose-env` would write: the repository's own is not committed.
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copytree(COMPOSE_DIR, tmp_path / "deploy" / "compose")
    (tmp_path / "deploy" / "compose" / "broker.env").write_text("BROKER_CACHE_KEY=" + "A" * 43 + "=\n")
    done = subprocess.run(  # noqa: S603 - the compose CLI found on PATH, parsing only
        [*command, "-f", str(tmp_path / "docker-compose.yml"), "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert rendered["services"]["broker"]["deploy"]["replicas"] == _services()["broker"]["deploy"]["replicas"]
    assert rendered["services"]["broker"]["environment"]["BROKER_CACHE_KEY"] == "A" * 43 + "="


def test_haproxy_accepts_the_load_balancer_config() -> None:
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    done = subprocess.run(  # noqa: S603 - haproxy's configuration check only
        [binary, "-c", "-f", str(HAPROXY)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
