"""Snapshots and the journal they cover: retention of covered segments."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.venue import Venue, VenueConfig

SKU = "DZ5485-612-10"


@pytest.mark.parametrize("days", [None, 7.0, 0.0])
async def test_journal_retention_keeps_covered_segments_and_a_damaged_one_does_not_block(
    tmp_data_dir: Path, days: float | None
) -> None:
    cfg = VenueConfig(
        data_dir=tmp_data_dir,
        fsync=False,
        store=False,
        tick_interval=3600,
        snapshot_every=10,
        fork_snapshots=False,
        journal_retention_days=days,
    )
    venue = await Venue.open(cfg)
    try:
        trader = venue.authenticate((await venue.create_account("t"))["api_key"])
        assert trader
        for i in range(60):
            body = {
                "sku": SKU,
                "side": "ask",
                "type": "limit",
                "price_cents": 30_000 + 100 * i,
                "quantity": 1,
            }
            await venue.place_order(trader, body)
        state = venue.engine.snapshot_bytes()
    finally:
        await venue.close()
    segments = sorted((tmp_data_dir / "journal").glob("*.log"))
    first = int(segments[0].name.split(".")[0])
    if days == 0.0:
        assert first > 1  # covered segments went at once
    else:
        assert first == 1 and len(segments) > 3  # kept for audit
        # A damaged segment that a snapshot covers does not block a start.
        data = bytearray(segments[0].read_bytes())
        data[len(data) // 2] ^= 0xFF
        segments[0].write_bytes(bytes(data))
    venue = await Venue.open(cfg)
    try:
        assert venue.engine.snapshot_bytes() == state
    finally:
        await venue.close()
