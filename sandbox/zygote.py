"""The warm worker: a process with torch (or any module list) already imported that forks one sandbox per job.

It never runs job code itself: each job is a fork of the pristine zygote, so no job sees another's memory.
Per job (`_child`): the fork waits at a gate until the executor has put it in the job's cgroup and set its
rlimits, unshares fresh mount, PID, network, IPC, UTS and cgroup namespaces, and forks the namespace's
init (`_init`), which builds the job's file system from the same bubblewrap argument list a cold job gets
(`sandbox.isolation.bwrap_argv`: a tmpfs root, read-only binds, the work dir, a fresh /proc, /dev and /tmp),
pivots into it, drops every capability, and forks the job itself (PID 2) with its own environment, work
dir, stdout and stderr; the job runs its script with `runpy`, as `python script.py` / `-m` / `-c` would.

Protocol (JSON lines): in on stdin `{"op": "spawn", "id", "spec_file"}`, `{"op": "go", "id"}`, `{"op": "abort",
"id"}` — a job's spec (argv, environment, paths) goes from the executor to the job's own fork through a file
that the fork reads and removes, so the zygote, whose memory every later job inherits, never holds one; out on stdout `{"ready": ...}` once, `{"id", "pid"}` or `{"id", "error"}` per spawn, `{"id",
"exit"}` when a job's first process ends (exit code, or -signal). EOF on stdin: finish the running jobs and
exit. CPU jobs only: the zygote never initialises CUDA, but GPU jobs take the cold path.

Run by the executor (`sandbox.warm`): `python -m sandbox.zygote torch [more modules]`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import signal
import sys
import time
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE = {"--unshare-net": 0x40000000, "--unshare-pid": 0x20000000, "--unshare-ipc": 0x08000000,
          "--unshare-uts": 0x04000000, "--unshare-cgroup-try": 0x02000000}
_CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MNT_DETACH = 2
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 1, 4, 24, 38, 47
_SYS_PIVOT_ROOT, _SYS_CAPSET = 155, 126  # x86_64
IDLE_SECONDS = 60.0
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_TAKES_TWO = {"--ro-bind", "--bind", "--dev-bind", "--symlink"}
_TAKES_ONE = {"--hostname", "--proc", "--dev", "--tmpfs", "--remount-ro", "--chdir"}


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enc(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = _enc
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _prctl(option: int, arg: int) -> int:
    return _libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def parse_bwrap(argv: list[str]) -> tuple[int, list[tuple[str, ...]], list[str]]:
    """(namespace flags, mount and setup steps in order, the command) from `bwrap_argv`'s list."""
    flags, steps, i = _CLONE_NEWNS, [], 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return flags, steps, argv[i + 1:]
        if arg in _CLONE:
            flags |= _CLONE[arg]
        elif arg in _TAKES_TWO:
            steps.append((arg, argv[i + 1], argv[i + 2]))
            i += 2
        elif arg in _TAKES_ONE:
            steps.append((arg, argv[i + 1]))
            i += 1
        elif arg == "--cap-drop" and argv[i + 1] == "ALL":
            i += 1
        elif arg not in ("--die-with-parent", "--new-session"):
            raise ValueError(f"zygote: unsupported bwrap flag {arg}")
        i += 1
    raise ValueError("zygote: no command after --")


def _mountpoint(path: Path, like: Path | None) -> None:
    if like is not None and not like.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch()
    else:
        path.mkdir(parents=True, exist_ok=True)


def _bind(source: str, target: Path, readonly: bool, dev: bool = False) -> None:
    _mountpoint(target, Path(source))
    _mount(source, str(target), None, MS_BIND)
    if readonly:
        _mount(None, str(target), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | (0 if dev else MS_NODEV))


def _make_dev(target: Path) -> None:
    _mountpoint(target, None)
    _mount("tmpfs", str(target), "tmpfs", MS_NOSUID, "mode=0755")
    for name in _DEVICES:
        _bind(f"/dev/{name}", target / name, readonly=False, dev=True)
    for name, to in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2")):
        os.symlink(to, target / name)
    (target / "shm").mkdir()
    _mount("tmpfs", str(target / "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")


def _build_root(root: Path, steps: list[tuple[str, ...]]) -> str:
    """Carry out the steps under `root` (a fresh tmpfs); returns the work dir to start in."""
    chdir, hostname = "/", None
    for step in steps:
        kind, target = step[0], root / step[-1].lstrip("/")
        if kind in ("--ro-bind", "--bind", "--dev-bind"):
            _bind(step[1], target, readonly=kind == "--ro-bind", dev=kind == "--dev-bind")
        elif kind == "--symlink":
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(step[1], target)
        elif kind == "--proc":
            _mountpoint(target, None)
            _mount("proc", str(target), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        elif kind == "--dev":
            _make_dev(target)
        elif kind == "--tmpfs":
            _mountpoint(target, None)
            _mount("tmpfs", str(target), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        elif kind == "--remount-ro":
            _mount(None, str(target), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        elif kind == "--chdir":
            chdir = step[1]
        elif kind == "--hostname":
            hostname = step[1]
    if hostname:
        _check(_libc.sethostname(hostname.encode(), len(hostname)), "sethostname")
    return chdir


def _pivot(root: Path) -> None:
    os.chdir(root)
    _check(_libc.syscall(_SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", _MNT_DETACH), "umount old root")
    os.chdir("/")


def _drop_capabilities() -> None:
    for cap in range(64):
        if _prctl(_PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() == 22:  # EINVAL: past the last capability
            break
    _prctl(_PR_CAP_AMBIENT, 4)  # PR_CAP_AMBIENT_CLEAR_ALL
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x 2: all empty
    _check(_libc.syscall(_SYS_CAPSET, header, data), "capset")
    _check(_prctl(_PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _child(spec_file: str, gate: int) -> None:
    """The job's first process, on the host: wait at the gate, read its spec, unshare, fork the namespace's init."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the executor's SIGTERM is for the job, not its keepers
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()
    if os.read(gate, 1) != b"g":
        os._exit(111)
    os.close(gate)
    spec = json.loads(Path(spec_file).read_text())
    Path(spec_file).unlink()
    flags, steps, command = parse_bwrap(spec["argv"])
    _check(_libc.unshare(flags), "unshare")
    init = os.fork()
    if init == 0:
        _init(spec, steps, command)
    os._exit(_exit_code(os.waitpid(init, 0)[1]))


def _init(spec: dict, steps: list[tuple[str, ...]], command: list[str]) -> None:
    """PID 1 of the job's namespace: build and enter its root, drop capabilities, fork the job, wait."""
    try:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        root = Path(spec["root"])
        _mount("tmpfs", str(root), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        chdir = _build_root(root, steps)
        _pivot(root)
        _drop_capabilities()
        _prctl(_PR_SET_DUMPABLE, 0)  # the job (PID 2, same uid) may not read this process's memory or fds
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):  # not the zygote's log on the host
            os.dup2(null, fd)
        os.close(null)
    except BaseException as exc:  # noqa: BLE001 - the job never starts; say why in its stderr
        with contextlib.suppress(OSError), open(spec["stderr"], "a") as err:
            err.write(f"synthteam warm worker: could not build the sandbox: {exc}\n")
        os._exit(71)
    job = os.fork()
    if job == 0:
        _job(spec, chdir, command)
    os._exit(_exit_code(os.waitpid(job, 0)[1]))


def _job(spec: dict, chdir: str, command: list[str]) -> None:
    from sandbox.warmjob import run_job  # the job's own interpreter state: argv, env, fds, seeds

    _prctl(_PR_SET_DUMPABLE, 1)  # as any fresh process: the harness reads its /proc entries
    run_job(spec, chdir, command)


class Zygote:
    """The server loop: single-threaded (fork and threads do not mix), children reaped on SIGCHLD."""

    def __init__(self) -> None:
        self.gates: dict[str, int] = {}
        self.pids: dict[int, str] = {}
        self.closing = False

    def reply(self, row: dict) -> None:
        sys.stdout.write(json.dumps(row) + "\n")
        sys.stdout.flush()

    def spawn(self, job_id: str, spec_file: str) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                signal.set_wakeup_fd(-1)  # the zygote's loop is not this process's
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(write)
                for fd in (0, 1):
                    os.dup2(os.open(os.devnull, os.O_RDWR), fd)
                os.closerange(3, read)
                os.closerange(read + 1, 1 << 16)
                _child(spec_file, read)
            finally:
                os._exit(70)
        os.close(read)
        self.gates[job_id], self.pids[pid] = write, job_id
        self.reply({"id": job_id, "pid": pid})

    def open_gate(self, job_id: str, go: bool) -> None:
        gate = self.gates.pop(job_id, None)
        if gate is not None:
            with contextlib.suppress(OSError):
                if go:
                    os.write(gate, b"g")
            os.close(gate)

    def reap(self) -> None:
        while self.pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job_id = self.pids.pop(pid, None)
            if job_id is not None:
                self.open_gate(job_id, go=False)
                self.reply({"id": job_id, "exit": os.waitstatus_to_exitcode(status)})

    def handle(self, line: str) -> None:
        message = json.loads(line)
        op, job_id = message.get("op"), str(message.get("id"))
        try:
            if op == "spawn":
                self.spawn(job_id, str(message["spec_file"]))
            elif op in ("go", "abort"):
                self.open_gate(job_id, go=op == "go")
        except (OSError, KeyError, ValueError) as exc:
            self.reply({"id": job_id, "error": f"{type(exc).__name__}: {exc}"})

    def serve(self) -> None:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        os.set_blocking(wake_read, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "in")
        selector.register(wake_read, selectors.EVENT_READ, "child")
        buffer, active = b"", time.monotonic()
        while not (self.closing and not self.pids):
            if self.pids:
                active = time.monotonic()
            elif time.monotonic() - active > IDLE_SECONDS:
                return  # nobody has needed it for a while: the executor starts another when it does
            for key, _ in selector.select(timeout=1.0):
                if key.data == "child":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_read, 4096)
                    continue
                chunk = os.read(sys.stdin.fileno(), 1 << 16)
                if not chunk:
                    self.closing = True
                    selector.unregister(sys.stdin.fileno())
                buffer, active = buffer + chunk, time.monotonic()
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self.handle(line.decode())
            self.reap()


def main(modules: list[str]) -> None:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # the executor's death ends the zygote (and, by chain, its jobs)
    started, loaded = time.monotonic(), []
    for name in modules:
        try:
            __import__(name)
            loaded.append(name)
        except ImportError as exc:  # not installed here: the jobs that need it import it themselves
            print(f"zygote: {name} not preloaded: {exc}", file=sys.stderr, flush=True)
    import sandbox.warmjob  # noqa: F401 - loaded before the first fork

    zygote = Zygote()
    zygote.reply({"ready": True, "imports": loaded, "seconds": round(time.monotonic() - started, 3),
                  "pid": os.getpid()})
    zygote.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
