"""Warm jobs: the executor's side of the zygote (`sandbox.zygote`), a worker with torch already imported.

A job that `warm_command` accepts (`python SCRIPT|-m MODULE|-c CODE ...`, no GPU) starts as a fork of the
zygote instead of a fresh interpreter: same sandbox (the same bubblewrap argument list, carried out by the
fork in fresh namespaces), same cgroup and rlimits (set while the fork waits at its gate), same
environment, a fraction of the start-up. Where the zygote cannot be had (not root, no cgroups, it died),
jobs start cold. A zygote is recycled after `recycle` jobs, and after any failure of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["WarmPool", "WarmProcess", "warm_problem"]

DEFAULT_IMPORTS = ("torch",)
ENV_ROOM = 64 * 1024


def warm_problem(isolation: str, cgroups: bool) -> str | None:
    """Why jobs here cannot start warm (None: they can)."""
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        return "warm workers need Linux on x86_64"
    if os.geteuid() != 0:
        return "warm workers build the sandbox's namespaces themselves, which needs root"
    if isolation != "bwrap":
        return "warm workers run only where bubblewrap works (the same sandbox as a cold job)"
    if not cgroups:
        return "warm workers need cgroups (a job's processes are found and limited through its group)"
    return None


class WarmProcess:
    """What the executor holds of a warm job's first process: its pid and its exit code, like a subprocess."""

    def __init__(self, pid: int, exited: asyncio.Future):
        self.pid, self._exited = pid, exited
        self.returncode: int | None = None

    async def wait(self) -> int:
        self.returncode = await asyncio.shield(self._exited)
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, 9)


class _Zygote:
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc, self.jobs = proc, 0
        self.pending: dict[str, asyncio.Future] = {}
        self.exits: dict[str, asyncio.Future] = {}
        self.reader = asyncio.ensure_future(self._read())

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and not self.reader.done()

    async def _read(self) -> None:
        try:
            while line := await self.proc.stdout.readline():
                row = json.loads(line)
                job_id = row.get("id")
                if "exit" in row:
                    _settle(self.exits.pop(job_id, None), row["exit"])
                else:
                    _settle(self.pending.pop(job_id, None), row)
        finally:
            for future in (*self.pending.values(), *self.exits.values()):
                _settle(future, None)

    async def send(self, row: dict) -> None:
        self.proc.stdin.write((json.dumps(row) + "\n").encode())
        await self.proc.stdin.drain()

    async def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.proc.stdin.close()


def _settle(future: asyncio.Future | None, value) -> None:
    if future is not None and not future.done():
        future.set_result(value)


class WarmPool:
    """One zygote at a time for this executor (it forks as many jobs as the slots allow)."""

    def __init__(self, root: Path, imports: Sequence[str] = DEFAULT_IMPORTS, recycle: int = 200, eager: bool = False):
        self.root, self.imports, self.recycle = root, tuple(imports), recycle
        self.eager = eager  # True: a job waits for the zygote to start rather than starting cold
        self._zygote: _Zygote | None = None
        self._starting: asyncio.Future | None = None
        self._eligible = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = 0  # zygotes started (for tests and benchmarks)

    def prewarm(self) -> None:
        """Start a zygote in the background now (a run that will start many jobs calls this first)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop: what the old one held is gone with it
            self._loop, self._zygote, self._starting = loop, None, None
        z = self._zygote
        if self._starting is not None or (z is not None and z.alive and z.jobs < self.recycle):
            return
        if z is not None:
            asyncio.ensure_future(z.close())  # it ends once its running jobs have
        self._zygote = None
        self._starting = asyncio.ensure_future(self._start())

    def _ready(self) -> _Zygote | None:
        """The zygote if one is up; else start one (from an executor's second job on) and say None."""
        if self._loop is not asyncio.get_running_loop():
            self._loop, self._zygote, self._starting = asyncio.get_running_loop(), None, None
        if self._starting is not None and self._starting.done():
            self._zygote, self._starting = (None if self._starting.exception() else self._starting.result()), None
        z = self._zygote
        if z is not None and z.alive and z.jobs < self.recycle:
            return z
        if self._eligible >= 2 or z is not None:
            self.prewarm()
        return None

    async def _start(self) -> _Zygote | None:
        log = self.root / ".zygote.log"
        self.root.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), "LANG": "C.UTF-8",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "SYNTHTEAM_ENV_ROOM": "." * ENV_ROOM}  # room for each job's environment (sandbox.warmjob)
        with open(log, "ab") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sandbox.zygote", *self.imports, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=err, env=env, cwd=str(Path(__file__).resolve().parents[1]),
                limit=1 << 20)
        line = await proc.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return None
        self.started += 1
        return _Zygote(proc)

    async def spawn(self, job_id: str, argv: list[str], env: dict, workdir: Path) -> WarmProcess | None:
        """Fork the job, held at its gate (None: no zygote; start it cold). A zygote that is starting is waited
        for; none is started for an executor's first job unless asked (`eager`, `prewarm`)."""
        self._eligible += 1
        z = self._ready()
        if z is None and self.eager:
            self.prewarm()
        if z is None and self._starting is not None:  # one is on its way: a cold start would cost as much CPU
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._starting), 30)
            z = self._ready()
        if z is None:
            return None
        root = self.root / ".roots" / job_id
        root.mkdir(parents=True, exist_ok=True)
        spec = {"argv": argv, "env": env, "root": str(root), "stdout": str(workdir / "stdout.log"),
                "stderr": str(workdir / "stderr.log")}
        spec_file = root.parent / f"{job_id}.spec.json"  # read and removed by the job's fork (sandbox.zygote)
        fd = os.open(spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(spec, fh)
        loop = asyncio.get_running_loop()
        pending = z.pending[job_id] = loop.create_future()
        exited = z.exits[job_id] = loop.create_future()
        z.jobs += 1
        try:
            await z.send({"op": "spawn", "id": job_id, "spec_file": str(spec_file)})
        except (OSError, RuntimeError, ConnectionResetError):
            return None
        try:
            reply = await pending
        except asyncio.CancelledError:  # cancelled while forking: the fork must not wait at its gate forever
            asyncio.ensure_future(self.release(job_id, go=False))
            raise
        if not reply or "pid" not in reply:
            z.exits.pop(job_id, None)
            return None
        return WarmProcess(int(reply["pid"]), exited)

    async def release(self, job_id: str, go: bool = True) -> None:
        if self._zygote is not None:
            with contextlib.suppress(OSError, RuntimeError, ConnectionResetError):
                await self._zygote.send({"op": "go" if go else "abort", "id": job_id})

    def forget(self, job_id: str) -> None:
        """After the job: its (empty) root mount point goes, and its spec if the fork never read it."""
        with contextlib.suppress(OSError):
            (self.root / ".roots" / job_id).rmdir()
        with contextlib.suppress(OSError):
            (self.root / ".roots" / f"{job_id}.spec.json").unlink()

    async def close(self) -> None:
        if self._starting is not None:
            with contextlib.suppress(Exception):
                self._zygote = await self._starting
            self._starting = None
        if self._zygote is not None:
            await self._zygote.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._zygote.proc.wait(), 5)
            if self._zygote.proc.returncode is None:
                self._zygote.proc.kill()
            self._zygote = None
