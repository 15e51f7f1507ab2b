"""A shard's journal on JetStream: acknowledged means stored; a stale writer is fenced."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from cluster.journal import JetStreamJournal
from cluster.nats import NatsCluster
from cluster.sharding import ID_RANGE, id_base, shard_of_id, shard_of_style
from exchange.service.ports import SegmentedJournal
from exchange.venue import Venue, VenueConfig

SKU = "DZ5485-612-10"
_shards = itertools.count(100)


def new_shard() -> int:
    """A shard number no other test of the session uses (streams are shared)."""
    return next(_shards)


def test_the_journal_is_the_ports_protocol(nats_cluster: NatsCluster) -> None:
    journal = JetStreamJournal(nats_cluster.servers, new_shard()).open()
    try:
        assert isinstance(journal, SegmentedJournal)
    finally:
        journal.close()


def test_append_sync_replay(nats_cluster: NatsCluster) -> None:
    shard = new_shard()
    journal = JetStreamJournal(nats_cluster.servers, shard).open()
    assert journal.last_seq == 0
    journal.append([(1, b"one"), (2, b"two")])
    assert journal.durable_seq == 0
    journal.sync()
    assert journal.durable_seq == 2
    with pytest.raises(ValueError):
        journal.append([(4, b"gap")])
    journal.append([(3, b"three")])
    journal.close()
    again = JetStreamJournal(nats_cluster.servers, shard).open()
    try:
        assert again.last_seq == again.durable_seq == 3
        assert list(again.replay()) == [(1, b"one"), (2, b"two"), (3, b"three")]
        assert list(again.replay(after_seq=2)) == [(3, b"three")]
    finally:
        again.close()


def test_a_stale_writer_may_repeat_but_never_conflict(nats_cluster: NatsCluster) -> None:
    shard = new_shard()
    failures: list[BaseException] = []
    old = JetStreamJournal(nats_cluster.servers, shard, on_failure=failures.append).open()
    new = JetStreamJournal(nats_cluster.servers, shard).open()
    try:
        new.append([(1, b"new leader")])
        new.sync()
        # The same record again (same id): a de-duplicated repeat.
        old.append([(1, b"new leader")])
        old.sync()
        assert failures == []
        # Another record for a seq already written: refused.
        old.append([(2, b"stale")])
        new.append([(2, b"current")])
        new.sync()
        with pytest.raises(OSError):
            old.sync()
        assert len(failures) == 1
        assert [p for _, p in new.replay()] == [b"new leader", b"current"]
    finally:
        old.on_failure = None
        new.close()


def test_sharding_is_stable_and_ids_name_their_shard() -> None:
    assert shard_of_style("DZ5485-612", 2) == shard_of_style("DZ5485-612", 2)
    assert {shard_of_style(f"S{i}", 4) for i in range(100)} == {0, 1, 2, 3}
    assert shard_of_id(id_base(3) + 1, 4) == 3
    assert shard_of_id(ID_RANGE - 1, 4) == 0
    assert shard_of_id(0, 4) is None and shard_of_id(id_base(5) + 1, 4) is None


async def test_a_venue_runs_on_the_stream_and_recovers_from_it(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    shard = new_shard()

    def cfg(d: Path) -> VenueConfig:
        return VenueConfig(
            data_dir=d,
            tick_interval=3600,
            store=False,
            journal_factory=lambda: JetStreamJournal(nats_cluster.servers, shard).open(),
            id_base=id_base(1),
        )

    venue = await Venue.open(cfg(tmp_path / "a"))
    a = await venue.create_account("alice")
    b = await venue.create_account("bob")
    alice, bob = venue.authenticate(a["api_key"]), venue.authenticate(b["api_key"])
    assert alice is not None and bob is not None
    order = {"sku": SKU, "side": "ask", "type": "limit", "price_cents": 20_000, "quantity": 2}
    status, placed = await venue.place_order(alice, order)
    assert status == 201 and placed["order"]["id"] == id_base(1) + 1
    _, matched = await venue.place_order(bob, {**order, "side": "bid", "quantity": 1})
    assert matched["fills"][0]["id"] == id_base(1) + 1
    assert venue.journal.durable_seq == venue.engine.last_seq
    book = venue.book(SKU)
    await venue.close()
    # Another process (another data dir) rebuilds the same state from the stream.
    again = await Venue.open(cfg(tmp_path / "b"))
    try:
        assert again.book(SKU) == book
        assert again.get_order(alice, placed["order"]["id"])["filled_quantity"] == 1
    finally:
        await again.close()
