"""A warm job's own interpreter state, set in the forked process before its code runs (`sandbox.zygote`).

What a fresh `python script.py args` would have and a fork of the zygote would not: the job's environment
(and only it), its work dir, its stdout and stderr files and /dev/null for stdin, no inherited descriptors,
default signal handlers, fresh random seeds (a fork copies the zygote's generators), its thread count, no
bytecode writes, line-buffered output, and the exit code a Python process gives (SystemExit, an uncaught
exception: 1, atexit handlers and non-daemon threads waited for).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import random
import runpy
import signal
import sys
import tempfile
import threading
import traceback
from pathlib import Path

__all__ = ["run_job", "warm_command"]


def warm_command(command: list[str] | tuple[str, ...]) -> bool:
    """Whether a job's command is one a warm worker can run: `python SCRIPT|-m MODULE|-c CODE [args...]`."""
    if len(command) < 2 or Path(command[0]).name not in ("python", "python3", Path(sys.executable).name):
        return False
    if command[1] in ("-m", "-c"):
        return len(command) >= 3
    return not command[1].startswith("-")


def _reset_process(spec: dict, chdir: str) -> None:
    os.setsid()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.umask(0o022)
    os.environ.clear()
    os.environ.update(spec["env"])
    _show_environment(spec["env"])
    os.chdir(chdir)
    tempfile.tempdir = None
    sys.dont_write_bytecode = True
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(spec["stdout"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    err = os.open(spec["stderr"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
    os.closerange(3, 1 << 16)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own stdin, for its whole life
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True, write_through=True)


def _show_environment(env: dict) -> None:
    """Write the job's environment over the process's original one (the zygote's, padded for room), so
    that /proc/PID/environ shows the job's as for a cold job: the harness finds a job's processes, daemons
    included, by the markers there (sandbox.process.marked_pids). Runs after os.environ no longer points
    into that block."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50 and 51)
    marks = sorted(env.items(), key=lambda kv: not kv[0].startswith("SYNTHTEAM_"))  # the markers first
    block = b"".join(f"{k}={v}".encode() + b"\0" for k, v in marks)[:end - start]
    if end > start:
        ctypes.memmove(start, block.ljust(end - start, b"\0"), end - start)


def _reseed() -> None:
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))


def _run(command: list[str]) -> None:
    mode, target, rest = (command[1], command[2], command[3:]) if command[1] in ("-m", "-c") \
        else ("script", command[1], command[2:])
    if mode == "-c":
        sys.argv = ["-c", *rest]
        sys.path.insert(0, "")
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})  # noqa: S102
    elif mode == "-m":
        sys.argv = [target, *rest]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        script = os.path.abspath(target)
        sys.argv = [target, *rest]
        sys.path.insert(0, os.path.dirname(script))
        runpy.run_path(target, run_name="__main__")


def _code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def run_job(spec: dict, chdir: str, command: list[str]) -> None:
    """Run the job's command in this (forked, sandboxed) process and exit with what Python would."""
    code = 0
    try:
        _reset_process(spec, chdir)
        _reseed()
        _run(command)
    except SystemExit as exc:
        code = _code(exc)
    except BaseException:  # noqa: BLE001 - the job's own error, printed as Python would
        traceback.print_exc()
        code = 1
    for finish in (threading._shutdown, atexit._run_exitfuncs):  # what interpreter shutdown does
        try:
            finish()
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
