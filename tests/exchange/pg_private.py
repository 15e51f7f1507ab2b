"""A private PostgreSQL server in a temporary directory, for fault tests.

The server is :class:`bench.chaospg.PrivatePostgres` (the chaos soak uses it
too): the distribution's ``initdb``/``pg_ctl`` on a free port, fsync off; the
shared test database is never touched. :func:`private_postgres` skips when
the binaries are missing, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os

import pytest

from bench.chaospg import PrivatePostgres, bindir

__all__ = ["PrivatePostgres", "private_postgres"]


def private_postgres() -> PrivatePostgres:
    """A started private server; skip (fail under CI) when PostgreSQL is not installed."""
    binaries = bindir()
    if binaries is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PrivatePostgres(binaries)
    server.start()
    return server
