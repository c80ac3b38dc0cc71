"""pytest plugin (`pytest11` entry point of tip-emulator): the `tip_emulator` fixture, an emulator per test.

Choose the scenario with `@pytest.mark.tip_emulator(scenario="path.yaml", empty=True)` or by indirect
parametrisation (`@pytest.mark.parametrize("tip_emulator", [{"empty": True}], indirect=True)`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from emulator.testing import RunningEmulator


def pytest_configure(config: pytest.Config) -> None:
    """Register the `tip_emulator` marker (so `--strict-markers` accepts it)."""
    config.addinivalue_line(
        "markers",
        "tip_emulator(scenario=None, empty=False, sign_at_emulator_time=True): the tip_emulator fixture's "
        "scenario file, mode and whether boto3 signs at the emulator's time",
    )


@pytest.fixture
def tip_emulator(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    """Start the emulator on a free loopback port for one test and stop it afterwards.

    Only one emulator runs per process at a time (moto keeps its state in process globals).
    """
    from emulator.testing import RunningEmulator  # noqa: PLC0415 - boto3 and moto load only when used

    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker("tip_emulator")
    if marker is not None:
        options.update(marker.kwargs)
    options.update(getattr(request, "param", None) or {})
    with RunningEmulator(
        options.get("scenario"),
        empty=bool(options.get("empty", False)),
        sign_at_emulator_time=bool(options.get("sign_at_emulator_time", True)),
    ) as running:
        yield running
