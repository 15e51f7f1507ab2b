"""A private PostgreSQL server in a temporary directory (the chaos soak, fault tests).

Made with the distribution's ``initdb``/``pg_ctl`` (as the ``postgres`` user
when running as root: the server refuses to run as root), on a free port,
with fsync off; a shared server is never touched. :meth:`PrivatePostgres.stop`
and :meth:`PrivatePostgres.start` it at will, as an operator's ``pg_ctl``
would.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

__all__ = ["PrivatePostgres", "bindir"]


def bindir() -> Path | None:
    """The newest installed PostgreSQL's binaries, or None when there is none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivatePostgres:
    """One server: :meth:`stop` and :meth:`start` it at will; :meth:`database` makes a URL."""

    def __init__(self, binaries: Path, root: Path | None = None) -> None:
        self.bindir = binaries
        self.root = Path(tempfile.mkdtemp(prefix="exchange-pg-", dir=root))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        """Stop the server at once (``-m fast``: connections are cut)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def database(self) -> str:
        """A new, empty database's SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres",
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        """Stop the server (if running) and remove its directory."""
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
