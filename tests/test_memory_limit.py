"""The start-up warning when a container's memory limit cannot hold the users the caches are sized for."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from service.domain.cache_sizes import IDLE_MIB, KIB_PER_ACTIVE_USER, CacheSizes
from service.memory_limit import container_limit_mib, warn_if_short
from tests.logcapture import json_log

MIB = 1024 * 1024


def _limit_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "memory.max"
    path.write_text(text + "\n")
    return path


def _warnings(sizes: CacheSizes, workers: int, files: list[Path]) -> list[dict[str, object]]:
    with json_log(logging.WARNING) as stream:
        warn_if_short(sizes, workers, files)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_full_caches_cost_the_idle_process_and_the_measured_memory_per_user() -> None:
    assert CacheSizes(1024).full_mib == IDLE_MIB + KIB_PER_ACTIVE_USER


@pytest.mark.parametrize(
    ("text", "mib"),
    [("536870912", 512), ("max", None), ("9223372036854771712", None), ("garbage", None)],
)
def test_container_limit_reads_cgroup_v2_and_v1_files(tmp_path: Path, text: str, mib: int | None) -> None:
    assert container_limit_mib([_limit_file(tmp_path, text)]) == mib


def test_container_limit_is_none_without_a_cgroup_file(tmp_path: Path) -> None:
    assert container_limit_mib([tmp_path / "absent"]) is None


def test_a_limit_below_every_worker_full_warns_with_the_figures_and_the_remedy(tmp_path: Path) -> None:
    sizes = CacheSizes(50_000)
    limit = _limit_file(tmp_path, str(2 * sizes.full_mib * MIB - MIB))  # 1 MiB short for two workers

    (warning,) = _warnings(sizes, 2, [limit])

    assert warning["event"] == "memory.limit_below_active_set"
    assert warning["needed_mib"] == 2 * sizes.full_mib
    assert warning["limit_mib"] == 2 * sizes.full_mib - 1
    assert warning["active_users"] == 50_000
    assert "BROKER_ACTIVE_USERS" in str(warning["remedy"])


@pytest.mark.parametrize("text", ["max", "17179869184"])  # no limit; 16 GiB
def test_no_warning_when_the_limit_holds_the_caches_or_there_is_none(tmp_path: Path, text: str) -> None:
    assert _warnings(CacheSizes(50_000), 2, [_limit_file(tmp_path, text)]) == []
