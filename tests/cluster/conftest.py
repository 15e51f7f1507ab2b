"""One three-node NATS JetStream cluster for the cluster tests of a session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.nats import NatsCluster


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    cluster = NatsCluster(Path(tmp_path_factory.mktemp("nats")))
    cluster.start()
    try:
        asyncio.run(cluster.wait_ready())
        yield cluster
    finally:
        cluster.stop()
