"""``exchange cluster up``: a whole cluster on one machine, each role a child process.

:class:`Supervisor` starts three NATS nodes (:class:`cluster.nats.NatsCluster`),
then every role as a child process whose command line names it
(``exchange cluster engine --shard 0 ...``): per shard an engine and its
standbys, one feed, one gateway. A role that prints a URL (the feed, the
gateway) is started on the port it bound the first time whenever it is
restarted. A child that exits while the cluster runs is started again (and
so is a NATS node); :meth:`Supervisor.stop` stops the gateway and the feed
first, then the engines, then NATS, each with SIGTERM (SIGKILL after a grace).
Children run in sessions of their own: Ctrl-C reaches the supervisor only,
which stops them in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .nats import NatsCluster

__all__ = ["Role", "Supervisor"]

log = logging.getLogger("exchange.cluster")

#: Seconds between a role's exit and its restart (a crash loop stays slow).
RESTART_DELAY = 0.5
STOP_GRACE = 15.0


@dataclass
class Role:
    """One child process: its name and its ``exchange`` arguments.

    Attributes:
        url_flag: the port flag of a role that prints its URL first
            (its port is fixed to the bound one after the first start).
    """

    name: str
    args: list[str]
    url_flag: str | None = None
    proc: asyncio.subprocess.Process | None = None
    url: str | None = None
    restarts: int = 0
    _watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    """Start, watch, restart and stop the roles of a local cluster."""

    def __init__(self, nats: NatsCluster, program: Sequence[str]) -> None:
        self.nats = nats
        self.program = list(program)
        self.roles: list[Role] = []
        self._stopping = False
        self._nats_watch: asyncio.Task[None] | None = None

    async def start_nats(self) -> None:
        """Start the three nodes and wait for JetStream."""
        await asyncio.to_thread(self.nats.start)
        await self.nats.wait_ready()
        self._nats_watch = asyncio.create_task(self._watch_nats())

    async def start(self, role: Role, url_timeout: float = 120.0) -> Role:
        """Start ``role``; for a role with a URL, return once it printed it."""
        self.roles.append(role)
        await self._spawn(role)
        if role.url_flag is not None:
            assert role.proc is not None and role.proc.stdout is not None
            line = await asyncio.wait_for(role.proc.stdout.readline(), url_timeout)
            if not line:
                raise RuntimeError(f"cluster role {role.name} exited before printing its URL")
            role.url = line.decode().strip()
            port = role.url.rsplit(":", 1)[1]
            flag = role.args.index(role.url_flag)
            role.args[flag + 1] = port
        role._watcher = asyncio.create_task(self._watch(role))
        return role

    async def _spawn(self, role: Role) -> None:
        env = {**os.environ, "PYTHONPATH": _root_path()}
        role.proc = await asyncio.create_subprocess_exec(
            *self.program, *role.args,
            stdout=asyncio.subprocess.PIPE if role.url_flag else asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.info("cluster: started %s (pid %d)", role.name, role.proc.pid)

    async def _watch(self, role: Role) -> None:
        while True:
            assert role.proc is not None
            code = await role.proc.wait()
            if self._stopping:
                return
            log.warning("cluster: %s exited with %s; restarting it", role.name, code)
            role.restarts += 1
            await asyncio.sleep(RESTART_DELAY)
            if self._stopping:
                return
            await self._spawn(role)
            if role.url_flag is not None:
                assert role.proc.stdout is not None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(role.proc.stdout.readline(), 120)

    async def _watch_nats(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.5)
            if not self._stopping:
                await asyncio.to_thread(self.nats.restart_dead)

    async def stop(self) -> None:
        """Stop the roles (gateways and feeds, then engines), then NATS."""
        self._stopping = True
        if self._nats_watch is not None:
            self._nats_watch.cancel()
        front = [r for r in self.roles if r.url_flag is not None]
        back = [r for r in self.roles if r.url_flag is None]
        for group in (front, back):
            await asyncio.gather(*(self._stop_role(r) for r in group))
        await asyncio.to_thread(self.nats.stop)

    async def _stop_role(self, role: Role) -> None:
        if role._watcher is not None:
            role._watcher.cancel()
        proc = role.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def role(self, name: str) -> Role:
        """The role named ``name``."""
        return next(r for r in self.roles if r.name == name)


def _root_path() -> str:
    """PYTHONPATH for children: this checkout first, then what was set."""
    root = str(Path(__file__).resolve().parent.parent)
    rest = os.environ.get("PYTHONPATH")
    return root if not rest else f"{root}{os.pathsep}{rest}"

