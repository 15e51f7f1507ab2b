"""``exchange recover --check`` and ``--repair`` as an operator runs them."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

from exchange.datadir import DataDirLock
from exchange.journal import HEADER_SIZE

from .server import run_exchange, serve


def _post(url: str, body: object) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _frames(path: Path) -> list[int]:
    """Byte offsets of the records of a segment."""
    raw = path.read_bytes()
    offsets, off = [], 0
    while off + HEADER_SIZE <= len(raw):
        offsets.append(off)
        off += HEADER_SIZE + int.from_bytes(raw[off : off + 4], "little")
    return offsets


def test_repair_cuts_at_the_damage_says_what_is_lost_and_the_venue_starts(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with serve(data) as server:
        for i in range(5):
            _post(server.http_url + "/v1/accounts", {"name": f"Trader {i}"})
        # Killed: no final snapshot, so a start needs the whole journal.
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(20)
    (segment,) = sorted((data / "journal").glob("*.log"))
    offsets = _frames(segment)
    damaged = offsets[-3]  # the third account from the end
    raw = bytearray(segment.read_bytes())
    raw[damaged + HEADER_SIZE + 5] ^= 0xFF
    segment.write_bytes(bytes(raw))

    checked = run_exchange("recover", "--check", "--data-dir", str(data))
    assert checked.returncode == 1
    assert f"{segment} at byte offset {damaged}: checksum mismatch" in checked.stderr
    assert "recover --repair" in checked.stderr

    with DataDirLock(data):  # as a running server holds it
        refused = run_exchange("recover", "--repair", "--data-dir", str(data))
        assert refused.returncode == 1 and "stop the server" in refused.stderr
    assert segment.read_bytes() == bytes(raw)
    repaired = run_exchange("recover", "--repair", "--data-dir", str(data))
    assert repaired.returncode == 0, repaired.stderr
    last = len(offsets)
    assert f"3 acknowledged commands lost (seq {last - 2}..{last})" in repaired.stdout
    cut = segment.with_name(f"{segment.name}.cut-{damaged}")
    assert cut.read_bytes() == bytes(raw[damaged:])
    assert "intact for a start" in repaired.stdout

    checked = run_exchange("recover", "--check", "--data-dir", str(data))
    assert checked.returncode == 0, checked.stderr
    with (
        serve(data) as server,
        urllib.request.urlopen(server.http_url + "/readyz", timeout=10) as response,
    ):
        assert response.status == 200


def test_recover_check_reports_damaged_snapshots(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve(data) as server:
        _post(server.http_url + "/v1/accounts", {"name": "Trader"})
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0
    (snapshot,) = sorted((data / "snapshots").glob("*.snap"))
    raw = bytearray(snapshot.read_bytes())
    raw[-1] ^= 0xFF
    snapshot.write_bytes(bytes(raw))
    checked = run_exchange("recover", "--check", "--data-dir", str(data))
    # The journal still holds everything: a start replays it all.
    assert checked.returncode == 0, checked.stderr
    assert f"warning: snapshot {snapshot} is damaged: checksum mismatch" in checked.stderr
    assert "0 of 1 snapshots intact" in checked.stdout


def test_recover_without_a_journal_is_one_line(tmp_path: Path) -> None:
    result = run_exchange("recover", "--check", "--data-dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "no journal" in result.stderr


def test_every_snapshot_damaged_and_the_journal_after_seq_1_stops_the_start_in_one_line(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    for name in ("First", "Second"):
        # Each clean stop writes a snapshot; the second prunes the journal
        # that the first snapshot holds (no retention kept for audit).
        with serve(data, "--journal-retention", "0") as server:
            _post(server.http_url + "/v1/accounts", {"name": name})
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(20) == 0
    first = sorted((data / "journal").glob("*.log"))[0]
    assert first.name != "00000000000000000001.log"
    for snapshot in (data / "snapshots").glob("*.snap"):
        raw = bytearray(snapshot.read_bytes())
        raw[-1] ^= 0xFF
        snapshot.write_bytes(bytes(raw))
    checked = run_exchange("recover", "--check", "--data-dir", str(data))
    assert checked.returncode == 1
    assert "every snapshot is damaged (2)" in checked.stderr
    assert "restore the snapshots from a backup" in checked.stderr
    started = run_exchange("serve", "--http-port", "0", "--feed-port", "0",
                           "--data-dir", str(data))
    assert started.returncode == 1
    # One error line (after the log's warnings naming each damaged snapshot).
    errors = [line for line in started.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in started.stderr, started.stderr
    assert errors[0].startswith("exchange: error: journal corrupt: ")
    assert f"the journal starts at seq {int(first.stem)} and every snapshot is damaged" in errors[0]
