"""The supervised store writer: follows the outbox, retries until written, restarts itself."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from exchange.journal import Journal
from exchange.store import TradeStore, sqlite_url
from exchange.storewriter import OutboxGap, OutboxReader, SupervisedWriter, backoff, encode_ops
from tests.exchange.test_store import order, trade


def outbox(tmp_path: Path, segment_bytes: int = 4096) -> Journal:
    journal = Journal(tmp_path / "outbox", fsync=False, max_segment_bytes=segment_bytes)
    journal.open()
    return journal


def append_trades(journal: Journal, first: int, last: int) -> None:
    """One outbox record per seq: a trade and its order, every third seq empty;
    appended in groups of five, as a venue's group commits would."""
    for start in range(first, last + 1, 5):
        journal.append(
            [
                (i, b"[]" if i % 3 == 0 else encode_ops([trade(i), order(i, status="filled")]))
                for i in range(start, min(start + 5, last + 1))
            ]
        )


def sqlite_store(tmp_path: Path) -> TradeStore:
    store = TradeStore(sqlite_url(str(tmp_path)))
    store.create_all()
    return store


def trade_ids(store: TradeStore) -> set[int]:
    with store.engine.connect() as conn:
        return {row[0] for row in conn.exec_driver_sql("SELECT id FROM trades")}


def expected(last: int) -> set[int]:
    return {i for i in range(1, last + 1) if i % 3}


def test_backoff_grows_and_is_capped() -> None:
    assert backoff(1) == 0.05
    assert backoff(2) == 0.1
    assert backoff(50) == 2.0


def test_reader_follows_segments_from_a_position(tmp_path: Path) -> None:
    journal = outbox(tmp_path, segment_bytes=1024)
    append_trades(journal, 1, 40)
    reader = OutboxReader(tmp_path / "outbox", 10)
    got = reader.read(25, max_records=100)
    assert [seq for seq, _ in got] == list(range(11, 26))
    append_trades(journal, 41, 60)
    got = reader.read(60, max_records=7)
    assert [seq for seq, _ in got] == list(range(26, 33))
    got = reader.read(60, max_records=100)
    assert [seq for seq, _ in got] == list(range(33, 61))
    assert reader.read(60, max_records=100) == []
    assert len(list((tmp_path / "outbox").glob("*.log"))) > 3
    reader.close()


def test_reader_of_an_outbox_that_starts_later(tmp_path: Path) -> None:
    journal = outbox(tmp_path)
    reader = OutboxReader(tmp_path / "outbox", 99)
    assert reader.read(99, max_records=10) == []
    append_trades(journal, 100, 102)  # the empty segment is renamed to seq 100
    assert [seq for seq, _ in reader.read(102, max_records=10)] == [100, 101, 102]
    with pytest.raises(OutboxGap, match="starts at seq 100"):
        OutboxReader(tmp_path / "outbox", 10).read(102, max_records=10)


def test_writes_everything_announced_and_moves_its_position(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    journal = outbox(tmp_path)
    append_trades(journal, 1, 500)
    writer = SupervisedWriter(store.url, tmp_path / "outbox", 0, max_records=64)
    try:
        writer.announce(500)
        assert writer.wait(500, 60)
        assert trade_ids(store) == expected(500)
        assert store.get_meta("last_seq") == "500"
        append_trades(journal, 501, 510)
        writer.announce(510)
        assert writer.wait(510, 60)
    finally:
        assert writer.close(30)
    assert store.get_meta("last_seq") == "510"


def test_a_locked_database_is_retried_until_written(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    journal = outbox(tmp_path)
    append_trades(journal, 1, 50)
    writer = SupervisedWriter(store.url, tmp_path / "outbox", 0)
    try:
        writer.announce(50)
        assert writer.wait(50, 60)
        # Another process's exclusive lock (a backup tool, the sqlite3 shell).
        blocker = sqlite3.connect(str(tmp_path / "exchange.db"), timeout=0)
        blocker.execute("BEGIN EXCLUSIVE")
        append_trades(journal, 51, 100)
        writer.announce(100)
        assert not writer.wait(100, 7)  # SQLite's busy timeout is 5 s: at least one failure
        blocker.rollback()
        blocker.close()
        assert writer.wait(100, 60)
        assert writer.failures >= 1
        assert trade_ids(store) == expected(100)
    finally:
        writer.close(30)


def child_pid(writer: SupervisedWriter) -> int:
    pid = writer.pid
    assert pid is not None
    return pid


def test_a_killed_writer_is_restarted_and_catches_up(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    journal = outbox(tmp_path)
    append_trades(journal, 1, 100)
    writer = SupervisedWriter(store.url, tmp_path / "outbox", 0)
    try:
        writer.announce(100)
        assert writer.wait(100, 60)
        os.kill(child_pid(writer), signal.SIGKILL)
        append_trades(journal, 101, 300)
        writer.announce(300)
        assert writer.wait(300, 60)
        assert writer.restarts == 1
        assert trade_ids(store) == expected(300)
    finally:
        writer.close(30)


def test_a_stopped_writer_is_killed_and_restarted(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    journal = outbox(tmp_path)
    writer = SupervisedWriter(store.url, tmp_path / "outbox", 0, stall_seconds=1.5)
    try:
        pid = child_pid(writer)
        os.kill(pid, signal.SIGSTOP)
        append_trades(journal, 1, 200)
        writer.announce(200)
        started = time.monotonic()
        assert not writer.wait(200, 0.5)  # a bounded wait returns, it never hangs
        assert time.monotonic() - started < 2
        assert writer.wait(200, 60)
        assert writer.restarts == 1
        assert writer.pid != pid
        assert trade_ids(store) == expected(200)
    finally:
        writer.close(30)


def test_a_thread_writer_follows_the_outbox_too(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    journal = outbox(tmp_path)
    append_trades(journal, 1, 90)
    writer = SupervisedWriter(store.url, tmp_path / "outbox", 0, process=False)
    writer.announce(90)
    assert writer.close(60)
    assert trade_ids(store) == expected(90)


def test_close_gives_up_after_its_timeout_and_keeps_the_rest(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    journal = outbox(tmp_path)
    append_trades(journal, 1, 30)
    blocker = sqlite3.connect(str(tmp_path / "exchange.db"), timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    writer = SupervisedWriter(store.url, tmp_path / "outbox", 0)
    writer.announce(30)
    started = time.monotonic()
    assert not writer.close(1.0)
    assert time.monotonic() - started < 10
    blocker.rollback()
    blocker.close()
    assert store.get_meta("last_seq") is None
    # The next writer starts from the store's position and writes the rest.
    writer = SupervisedWriter(store.url, tmp_path / "outbox", 0)
    writer.announce(30)
    assert writer.close(60)
    assert trade_ids(store) == expected(30)


def test_a_process_that_never_closes_its_writer_still_exits(tmp_path: Path) -> None:
    script = (
        "from pathlib import Path\n"
        "from exchange.store import TradeStore, sqlite_url\n"
        "from exchange.storewriter import SupervisedWriter\n"
        f"url = sqlite_url({str(tmp_path)!r})\n"
        "TradeStore(url).create_all()\n"
        f"writer = SupervisedWriter(url, Path({str(tmp_path / 'outbox')!r}), 0)\n"
        "assert writer.wait(0, 30)\n"
        "print('done', flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"


def test_announce_never_blocks_on_a_stuck_writer(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    outbox(tmp_path)
    writer = SupervisedWriter(store.url, tmp_path / "outbox", 0, stall_seconds=3600)
    try:
        os.kill(child_pid(writer), signal.SIGSTOP)
        done = threading.Event()

        def announce_many() -> None:
            for seq in range(1, 200_001):
                writer.announce(seq)
            done.set()

        threading.Thread(target=announce_many, daemon=True).start()
        assert done.wait(30)
    finally:
        os.kill(child_pid(writer), signal.SIGKILL)
        writer.close(0.1)
