"""What the edge command tests share: a clean LINETRACE_EDGE_* environment, and a
stand-in central that confirms what the commands send."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.config import ENV_PREFIX
from tests.edge.delivery.acking_sink import AckingSink


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LINETRACE_EDGE_* setting of the machine running the tests reaches a command."""
    for name in os.environ:
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def sink(mqtt_broker: LocalBroker) -> Iterator[AckingSink]:
    with AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink:
        yield sink
