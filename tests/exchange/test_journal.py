"""The write-ahead journal: framing, torn tails, corruption, sequences, segments."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.journal import (
    HEADER_SIZE,
    Journal,
    JournalCorrupt,
    check_journal,
    encode_frame,
    segment_name,
)


def payload(seq: int) -> bytes:
    """A payload that differs per record and has a varying length."""
    return b'{"ts":%d,"cmd":{"type":"place","x":"%s"}}' % (seq, b"y" * (seq % 7))


def make_journal(directory: Path, seqs: range, *, per_batch: int = 3) -> list[int]:
    """Write records ``seqs`` in batches; return each record's byte offset."""
    j = Journal(directory, fsync=False)
    assert j.open() == 0
    offsets = []
    size = 0
    batch: list[tuple[int, bytes]] = []
    for seq in seqs:
        offsets.append(size)
        size += HEADER_SIZE + len(payload(seq))
        batch.append((seq, payload(seq)))
        if len(batch) == per_batch:
            j.append(batch)
            batch = []
    j.append(batch)
    j.close()
    return offsets


def only_segment(directory: Path) -> Path:
    (path,) = sorted(directory.glob("*.log"))
    return path


def read_all(directory: Path) -> list[tuple[int, bytes]]:
    j = Journal(directory, fsync=False)
    j.open()
    try:
        return list(j.replay())
    finally:
        j.close()


# -- framing -------------------------------------------------------------------


def test_frame_layout_is_len_crc_seq_payload() -> None:
    frame = encode_frame(7, b"hello")
    length, crc, seq = struct.unpack_from("<IIQ", frame)
    assert (length, seq) == (5, 7)
    assert crc == zlib.crc32(struct.pack("<Q", 7) + b"hello")
    assert frame[HEADER_SIZE:] == b"hello"


def test_append_writes_exactly_the_frames(tmp_path: Path) -> None:
    records = [(1, b""), (2, b"x"), (3, bytes(range(256)) * 10)]
    with Journal(tmp_path) as j:
        j.append(records)
        j.sync()
        assert j.durable_seq == 3
        assert j.fsync_count == 1
        assert j.last_fsync_seconds >= 0
    data = only_segment(tmp_path).read_bytes()
    assert data == b"".join(encode_frame(s, p) for s, p in records)


def test_round_trip_across_reopen(tmp_path: Path) -> None:
    make_journal(tmp_path, range(1, 51))
    assert read_all(tmp_path) == [(s, payload(s)) for s in range(1, 51)]
    j = Journal(tmp_path)
    assert j.open() == 50
    assert j.last_seq == 50
    j.append([(51, b"more")])
    j.close()
    assert read_all(tmp_path)[-1] == (51, b"more")


def test_append_refuses_a_gap_and_writes_nothing(tmp_path: Path) -> None:
    with Journal(tmp_path, fsync=False) as j:
        j.append([(1, b"a")])
        with pytest.raises(ValueError, match="does not follow"):
            j.append([(3, b"c")])
        with pytest.raises(ValueError, match="was due"):
            j.append([(2, b"b"), (4, b"d")])
        assert j.last_seq == 1
    assert read_all(tmp_path) == [(1, b"a")]


def test_empty_journal_starts_at_any_seq(tmp_path: Path) -> None:
    """After a snapshot at seq 99 and a lost journal, appends start at 100."""
    with Journal(tmp_path, fsync=False) as j:
        j.append([(100, b"a"), (101, b"b")])
    assert [p.name for p in tmp_path.glob("*.log")] == [segment_name(100)]
    j = Journal(tmp_path)
    assert j.open() == 101
    assert list(j.replay(100)) == [(101, b"b")]
    j.close()


# -- torn tails ------------------------------------------------------------------


def test_truncated_at_every_offset_of_last_record_recovers(tmp_path: Path) -> None:
    src = tmp_path / "src"
    offsets = make_journal(src, range(1, 9))
    full = only_segment(src).read_bytes()
    last_offset = offsets[-1]
    expected = [(s, payload(s)) for s in range(1, 8)]
    for cut in range(last_offset, len(full)):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(src, work)
        seg = only_segment(work)
        seg.write_bytes(full[:cut])

        check = check_journal(work)
        if cut == last_offset:
            assert check.ok, check.message
        else:
            assert not check.ok
            assert check.offset == last_offset
            assert "would be truncated on start" in check.message
        assert seg.stat().st_size == cut, "check_journal must not change the file"

        j = Journal(work)
        assert j.open() == 7
        assert (j.repaired is not None) == (cut != last_offset)
        assert seg.stat().st_size == last_offset
        assert list(j.replay()) == expected
        # The repaired file takes appends cleanly and reads back whole.
        j.append([(8, b"again")])
        j.sync()
        j.close()
        assert read_all(work) == [*expected, (8, b"again")]
        assert check_journal(work).ok
        shutil.rmtree(work)


@given(cut_fraction=st.floats(min_value=0.0, max_value=1.0), n=st.integers(1, 12))
def test_truncated_anywhere_recovers_the_complete_prefix(
    tmp_path_factory: pytest.TempPathFactory, cut_fraction: float, n: int
) -> None:
    """Cutting the file at any byte keeps exactly the records that end before the cut."""
    d = tmp_path_factory.mktemp("j")
    offsets = make_journal(d, range(1, n + 1))
    seg = only_segment(d)
    full = seg.read_bytes()
    cut = int(len(full) * cut_fraction)
    seg.write_bytes(full[:cut])
    ends = [*offsets[1:], len(full)]
    survivors = [s for s, end in zip(range(1, n + 1), ends, strict=True) if end <= cut]
    j = Journal(d, fsync=False)
    assert j.open() == len(survivors)
    assert [s for s, _ in j.replay()] == survivors
    j.close()


def test_bad_checksum_of_the_last_record_is_a_torn_write(tmp_path: Path) -> None:
    offsets = make_journal(tmp_path, range(1, 6))
    seg = only_segment(tmp_path)
    data = bytearray(seg.read_bytes())
    data[-1] ^= 0xFF
    seg.write_bytes(bytes(data))
    j = Journal(tmp_path)
    assert j.open() == 4
    assert j.repaired is not None and "checksum mismatch" in j.repaired
    assert seg.stat().st_size == offsets[-1]
    j.close()


def test_zero_filled_tail_is_a_torn_write(tmp_path: Path) -> None:
    """A crash can leave the size grown but the data never written: zeros."""
    make_journal(tmp_path, range(1, 6))
    seg = only_segment(tmp_path)
    size = seg.stat().st_size
    with open(seg, "ab") as f:
        f.write(bytes(100))
    j = Journal(tmp_path)
    assert j.open() == 5
    assert seg.stat().st_size == size
    j.close()


# -- corruption ------------------------------------------------------------------


@pytest.mark.parametrize("record", [0, 1, 3])
@pytest.mark.parametrize("where", ["payload", "length", "seq", "crc"])
def test_flipped_byte_in_an_earlier_record_stops_the_start(
    tmp_path: Path, record: int, where: str
) -> None:
    offsets = make_journal(tmp_path, range(1, 8))
    seg = only_segment(tmp_path)
    before = seg.read_bytes()
    pos = offsets[record] + {"length": 0, "crc": 5, "seq": 8, "payload": HEADER_SIZE + 3}[where]
    data = bytearray(before)
    data[pos] ^= 0x01
    seg.write_bytes(bytes(data))

    with pytest.raises(JournalCorrupt) as info:
        Journal(tmp_path).open()
    err = info.value
    assert err.offset == offsets[record]
    assert err.path == str(seg)
    assert f"byte offset {offsets[record]}" in str(err)
    assert str(seg) in str(err)
    assert seg.read_bytes() == bytes(data), "a corrupt journal is never modified"

    check = check_journal(tmp_path)
    assert not check.ok
    assert check.offset == offsets[record]
    assert check.path == str(seg)


def test_damage_at_the_end_of_an_earlier_segment_is_corruption(tmp_path: Path) -> None:
    with Journal(tmp_path, fsync=False) as j:
        j.append([(1, b"one"), (2, b"two")])
        j.rotate()
        j.append([(3, b"three")])
    first = tmp_path / segment_name(1)
    data = bytearray(first.read_bytes())
    data[-1] ^= 0x01
    first.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt) as info:
        Journal(tmp_path).open()
    assert info.value.path == str(first)
    assert info.value.offset == HEADER_SIZE + 3


def test_sequence_gap_inside_a_segment(tmp_path: Path) -> None:
    frames = [encode_frame(1, b"a"), encode_frame(2, b"b"), encode_frame(4, b"d")]
    (tmp_path / segment_name(1)).write_bytes(b"".join(frames))
    with pytest.raises(JournalCorrupt, match="gap") as info:
        Journal(tmp_path).open()
    assert info.value.offset == len(frames[0]) + len(frames[1])


def test_sequence_regression_inside_a_segment(tmp_path: Path) -> None:
    frames = [encode_frame(1, b"a"), encode_frame(2, b"b"), encode_frame(2, b"b")]
    (tmp_path / segment_name(1)).write_bytes(b"".join(frames))
    with pytest.raises(JournalCorrupt, match="regression"):
        Journal(tmp_path).open()


def test_sequence_gap_between_segments(tmp_path: Path) -> None:
    (tmp_path / segment_name(1)).write_bytes(encode_frame(1, b"a") + encode_frame(2, b"b"))
    (tmp_path / segment_name(4)).write_bytes(encode_frame(4, b"d"))
    with pytest.raises(JournalCorrupt, match="gap") as info:
        Journal(tmp_path).open()
    assert info.value.path == str(tmp_path / segment_name(4))
    assert info.value.offset == 0
    assert not check_journal(tmp_path).ok


def test_segment_named_for_another_seq(tmp_path: Path) -> None:
    (tmp_path / segment_name(5)).write_bytes(encode_frame(6, b"a"))
    with pytest.raises(JournalCorrupt):
        Journal(tmp_path).open()


def test_check_journal_on_missing_and_empty_dirs(tmp_path: Path) -> None:
    assert not check_journal(tmp_path / "nope").ok
    check = check_journal(tmp_path)
    assert check.ok and check.records == 0 and check.last_seq == 0


# -- segments ------------------------------------------------------------------


def test_rotate_prune_and_replay_after_seq(tmp_path: Path) -> None:
    j = Journal(tmp_path, fsync=False)
    j.open()
    j.append([(s, payload(s)) for s in range(1, 4)])
    j.rotate()
    j.rotate()  # no record since: no new segment
    j.append([(s, payload(s)) for s in range(4, 8)])
    j.rotate()
    j.append([(s, payload(s)) for s in range(8, 10)])
    names = sorted(p.name for p in tmp_path.glob("*.log"))
    assert names == [segment_name(1), segment_name(4), segment_name(8)]

    for after in range(0, 11):
        assert [s for s, _ in j.replay(after)] == list(range(after + 1, 10))
    j.close()

    j = Journal(tmp_path, fsync=False)
    assert j.open() == 9
    for after in range(0, 11):
        assert list(j.replay(after)) == [(s, payload(s)) for s in range(after + 1, 10)]

    j.prune(5)  # segment 4..7 still holds 6 and 7
    assert sorted(p.name for p in tmp_path.glob("*.log")) == [segment_name(4), segment_name(8)]
    j.prune(9)  # the current segment is never deleted
    assert sorted(p.name for p in tmp_path.glob("*.log")) == [segment_name(8)]
    assert list(j.replay(7)) == [(8, payload(8)), (9, payload(9))]
    j.close()


def test_pruned_to_an_empty_segment_keeps_last_seq(tmp_path: Path) -> None:
    """Snapshot at 5, rotate, prune: the journal holds no record but knows seq 5."""
    with Journal(tmp_path) as j:
        j.append([(s, payload(s)) for s in range(1, 6)])
        j.rotate()
        j.prune(5)
    assert sorted(p.name for p in tmp_path.glob("*.log")) == [segment_name(6)]
    j = Journal(tmp_path)
    assert j.open() == 5
    assert list(j.replay()) == []
    with pytest.raises(ValueError):
        j.append([(7, b"gap")])
    j.append([(6, b"six")])
    j.close()
    assert check_journal(tmp_path).last_seq == 6


def test_append_rolls_segments_by_size(tmp_path: Path) -> None:
    j = Journal(tmp_path, fsync=True, max_segment_bytes=200)
    j.open()
    for s in range(1, 41):
        j.append([(s, payload(s))])
    j.sync()
    assert j.durable_seq == 40
    j.close()
    assert len(list(tmp_path.glob("*.log"))) > 5
    assert read_all(tmp_path) == [(s, payload(s)) for s in range(1, 41)]
    assert check_journal(tmp_path).records == 40


# -- the engine on top -----------------------------------------------------------


def test_recovered_engine_after_every_cut_of_the_last_record(tmp_path: Path) -> None:
    """The bar of issue 3: a journal truncated at every byte offset of its last
    record recovers (through the venue's recovery) to the state before it."""
    from exchange.catalog import demo_products
    from exchange.commands import Command, CreateAccount, PlaceOrder, encode_record
    from exchange.engine import Engine
    from exchange.venue import create_product_command, recover_engine

    product = demo_products()[0]
    sku = f"{product.style}-{product.sizes[0]}"
    price = product.retail_price_cents
    commands: list[Command] = [
        create_product_command(product),
        CreateAccount("acc_1", "seller", "trader", "0" * 64),
        CreateAccount("acc_2", "buyer", "trader", "1" * 64),
        PlaceOrder("acc_1", "a1", sku, "ask", "limit", price, 2),
        PlaceOrder("acc_1", None, sku, "ask", "limit", price + 100, 1),
        # The last record trades: it changes books, orders, trades, ledger.
        PlaceOrder("acc_2", "b1", sku, "bid", "limit", price + 100, 3),
    ]
    t0 = 1_767_225_600 * 10**9
    records = [(seq, encode_record(t0 + seq, cmd)) for seq, cmd in enumerate(commands, 1)]
    live = Engine()
    states = [live.snapshot_bytes()]
    for seq, cmd in enumerate(commands, 1):
        live.validate(cmd, t0 + seq)
        live.apply(seq, t0 + seq, cmd)
        states.append(live.snapshot_bytes())
    assert live.trade_count() == 2

    src = tmp_path / "src" / "journal"
    with Journal(src, fsync=False) as j:
        j.append(records)
    seg = only_segment(src)
    full = seg.read_bytes()
    last_offset = len(full) - len(encode_frame(*records[-1]))
    for cut in range(last_offset, len(full) + 1):
        data_dir = tmp_path / f"cut{cut}"
        (data_dir / "journal").mkdir(parents=True)
        (data_dir / "journal" / seg.name).write_bytes(full[:cut])
        rec = recover_engine(data_dir, fsync=False, lock=False)
        rec.journal.close()
        want = states[-1] if cut == len(full) else states[-2]
        assert rec.engine.snapshot_bytes() == want, f"cut at {cut}"
        shutil.rmtree(data_dir)
