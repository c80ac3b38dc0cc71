"""The Helm chart, rendered by Helm's own engine: lint-clean, hardened, in step with deploy/kubernetes/, and
every manifest valid for pinned Kubernetes versions (kubernetes-validate, strict: no unknown field)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from deploy.render_manifests import CHART, NAMESPACE, OUTPUT, RELEASE, committed, render
from service.domain.cache_sizes import DEFAULT_ACTIVE_USERS, CacheSizes
from service.settings import Settings
from tests.deploy.dockerfile import ROOT, stage

KUBERNETES_VERSIONS = ["1.30.0", "1.34.0"]  # the chart's kubeVersion floor, and a recent release
# Custom resources kubernetes-validate has no schema for: checked field by field below instead.
CUSTOM_KINDS = {"ServiceMonitor"}
SECRET_SETTINGS = {"BROKER_CACHE_KEY", "BROKER_ADMIN_TOKEN", "BROKER_REDIS_URL"}
OPTIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "fixed replicas, no budget": {
        "autoscaling": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
    },
    "service monitor, IRSA, two workers": {
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/b"}},
        "workers": 2,
        "config": {"AWS_REGION": "eu-west-1", "BROKER_OIDC_ISSUER": "https://issuer.example.com"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "broker", "effect": "NoSchedule"}],
    },
}


def _documents(manifests: dict[str, str]) -> list[dict[str, Any]]:
    return [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]


def _committed_documents() -> list[dict[str, Any]]:
    return _documents({path.name: path.read_text() for path in sorted(OUTPUT.glob("*.yaml"))})


def _kind(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents if doc["kind"] == kind]
    return found


def _served_paths() -> set[str]:
    return set(json.loads((ROOT / "openapi" / "openapi.json").read_text())["paths"])


def test_chart_lints_without_warnings() -> None:
    report = helm_python.lint(str(CHART), strict=True, kube_version=f"v{KUBERNETES_VERSIONS[0]}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_committed_manifests_are_the_chart_rendered_with_its_defaults() -> None:
    on_disk = {path.name: path.read_text() for path in OUTPUT.glob("*.yaml")}
    assert on_disk == committed(), "run `make k8s-manifests` and commit deploy/kubernetes/"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_committed_manifests_are_valid_kubernetes_objects(version: str) -> None:
    documents = _committed_documents()
    assert {doc["kind"] for doc in documents} == {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    }
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", list(OPTIONS))
def test_chart_renders_valid_objects_with_its_options(name: str, version: str) -> None:
    for document in _documents(render(OPTIONS[name])):
        if document["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(document, version, strict=True)


def test_deployment_runs_hardened_with_resources_and_the_image_user() -> None:
    pod = _kind(_committed_documents(), "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    user = stage("runtime").arguments("USER")[-1].split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(user)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["automountServiceAccountToken"] is False


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_memory_limit_holds_the_default_active_set_in_every_worker() -> None:
    # A busy replica fills its caches to BROKER_ACTIVE_USERS users per worker: below that the kernel kills
    # it (OOMKilled) instead of serving (docs/operations.md#memory).
    documents = _committed_documents()
    (container,) = _kind(documents, "Deployment")["spec"]["template"]["spec"]["containers"]
    workers = int(container["args"][container["args"].index("--workers") + 1])
    active = int(_kind(documents, "ConfigMap")["data"].get("BROKER_ACTIVE_USERS", DEFAULT_ACTIVE_USERS))
    assert _mebibytes(container["resources"]["limits"]["memory"]) >= workers * CacheSizes(active).full_mib


def test_probes_use_served_routes_and_the_grace_period_outlasts_delay_and_drain() -> None:
    documents = _committed_documents()
    pod = _kind(documents, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"/healthz", "/readyz"} <= _served_paths()
    config = _kind(documents, "ConfigMap")["data"]
    delay, drain = (int(config[f"BROKER_SHUTDOWN_{what}_SECONDS"]) for what in ("DELAY", "DRAIN"))
    assert pod["terminationGracePeriodSeconds"] > delay + drain


def test_chart_refuses_a_grace_period_the_drain_would_outlast() -> None:
    with pytest.raises(helm_python.HelmRenderError, match="terminationGracePeriodSeconds"):
        render({"terminationGracePeriodSeconds": 30})


def test_settings_come_from_a_configmap_and_secrets_only_from_a_secret_the_chart_does_not_hold() -> None:
    documents = _committed_documents()
    (container,) = _kind(documents, "Deployment")["spec"]["template"]["spec"]["containers"]
    config = _kind(documents, "ConfigMap")
    known = {f"BROKER_{name.upper()}" for name in Settings.model_fields} | {"AWS_REGION"}
    assert set(config["data"]) <= known
    assert not set(config["data"]) & SECRET_SETTINGS
    assert container["envFrom"] == [
        {"configMapRef": {"name": config["metadata"]["name"]}},
        {"secretRef": {"name": RELEASE}},
    ]
    assert "Secret" not in {doc["kind"] for doc in documents}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert not set(values["config"]) & SECRET_SETTINGS


def test_autoscaler_and_disruption_budget_target_the_deployment() -> None:
    documents = _committed_documents()
    deployment = _kind(documents, "Deployment")
    hpa, pdb = _kind(documents, "HorizontalPodAutoscaler"), _kind(documents, "PodDisruptionBudget")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2  # with maxUnavailable 1, one pod always serves a drain
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert "replicas" not in deployment["spec"]  # the autoscaler owns the count


def test_service_monitor_is_off_by_default_and_scrapes_metrics_when_on() -> None:
    assert "servicemonitor.yaml" not in render()
    (monitor,) = _documents(
        {"m": render(OPTIONS["service monitor, IRSA, two workers"])["servicemonitor.yaml"]}
    )
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert "/metrics" in _served_paths()


def test_helm_binary_template_matches_the_committed_manifests() -> None:
    binary = shutil.which("helm")
    if binary is None:
        pytest.skip("the helm binary is not installed: the chart was rendered by Helm's Go SDK above")
    done = subprocess.run(  # noqa: S603 - helm found on PATH, rendering only
        [binary, "template", RELEASE, str(CHART), "--namespace", NAMESPACE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    by_helm = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    key = lambda doc: (doc["kind"], doc["metadata"]["name"])  # noqa: E731
    assert sorted(by_helm, key=key) == sorted(_committed_documents(), key=key)


def test_chart_readme_documents_every_value_and_the_redis_dependency() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    first_cells = [line.split("|")[1] for line in readme.splitlines() if line.startswith("| `")]
    rows = {name for cell in first_cells for name in re.findall(r"`(\w+)", cell)}
    assert set(values) <= rows, set(values) - rows
    assert "BROKER_REDIS_URL" in readme
    assert "appendonly" in readme
