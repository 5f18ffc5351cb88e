"""What a job can see: the scrubbed environment and the bubblewrap command line around its command.

Under bubblewrap a job sees a read-only system, the Python prefix(es), synthteam's own packages (with
the built-in task folders hidden: their data.py and task.yaml would let a job rebuild a sealed split),
its `read_paths`, and its work dir (the only writable place); no network, its own PID, IPC and UTS
namespaces, a fresh /proc and /dev, and a private /tmp. Nothing else of the host is mounted: not the
cache, not other jobs' work dirs, not $HOME.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from sandbox.errors import JobError
from sandbox.jobs import METRICS_FILE, Job

__all__ = ["check_read_paths", "find_bwrap", "job_env", "bwrap_argv", "credential_keys", "visible_roots",
           "hidden_paths", "JOB_ID_VAR", "OWNER_VAR"]

JOB_ID_VAR = "SYNTHTEAM_JOB_ID"  # also how the harness finds a job's stray processes without bwrap
OWNER_VAR = "SYNTHTEAM_OWNER"  # the executor that started the job (sandbox.orphans)
_HIDDEN = ("tasks/builtin",)  # inside the packages: what a job must not read (task folders with seeds)
_CREDENTIAL = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|COOKIE|^AWS_|_API_", re.IGNORECASE)
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
_PACKAGES = ("team", "roles", "tasks", "sandbox", "groundwork")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCH_NUM_THREADS",
                "NUMEXPR_NUM_THREADS")


def find_bwrap() -> str | None:
    return shutil.which("bwrap") or (Path("/usr/bin/bwrap").exists() and "/usr/bin/bwrap") or None


def credential_keys(env: Mapping[str, str]) -> list[str]:
    """The keys of `env` that look like credentials; a job may not receive them."""
    return sorted(k for k in env if _CREDENTIAL.search(k))


def job_env(job: Job, workdir: Path, cuda_visible: str, isolated: bool, owner: str = "") -> dict[str, str]:
    """The whole environment of a job, built from scratch (nothing of the harness's leaks in)."""
    bad = credential_keys(job.env)
    if bad:
        raise JobError("credential_env", "submit", f"refusing credential-like env vars: {', '.join(bad)}",
                       {"job_id": job.job_id, "keys": bad})
    threads = str(max(1, job.resources.cpu_threads))
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp" if isolated else str(workdir / ".tmp"),
        "SYNTHTEAM_METRICS": str(workdir / METRICS_FILE),
        JOB_ID_VAR: job.job_id,
        "CUDA_VISIBLE_DEVICES": cuda_visible,
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update({name: threads for name in _THREAD_VARS})
    env.update(job.env)
    if owner:
        env[OWNER_VAR] = owner  # set last: a job cannot unmark itself through job.env
    return env


def visible_roots() -> list[Path]:
    """Read-only host paths every isolated job needs: Python prefixes and synthteam's packages."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent}
    source = Path(__file__).resolve().parent.parent
    roots.update(source / name for name in _PACKAGES if (source / name / "__init__.py").exists())
    return sorted(roots)


def hidden_paths() -> list[Path]:
    """Folders inside the visible packages that a job sees empty (an empty read-only tmpfs on top)."""
    source = Path(__file__).resolve().parent.parent
    return [source / rel for rel in _HIDDEN if (source / rel).is_dir()]


def _system_binds() -> list[str]:
    args: list[str] = []
    for name in _SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    return args


def _gpu_binds() -> list[str]:
    args = [arg for dev in sorted(Path("/dev").glob("nvidia*")) for arg in ("--dev-bind", str(dev), str(dev))]
    return args + ["--ro-bind", "/sys", "/sys"] if args else []


def check_read_paths(job: Job) -> None:
    missing = [str(p) for p in job.read_paths if not Path(p).exists()]
    if missing:
        raise JobError("read_path_missing", "submit", f"read_paths do not exist: {', '.join(missing)}",
                       {"job_id": job.job_id})


def bwrap_argv(bwrap: str, job: Job, workdir: Path) -> list[str]:
    """bwrap flags + the job's command; the work dir is bound at its own absolute path."""
    check_read_paths(job)
    args = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]
    args += _system_binds()
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # before binds that may lie under /tmp
    for root in visible_roots():
        args += ["--ro-bind", str(root), str(root)]
    for hidden in hidden_paths():
        args += ["--tmpfs", str(hidden), "--remount-ro", str(hidden)]
    for path in job.read_paths:
        args += ["--ro-bind", str(Path(path).resolve()), str(Path(path).absolute())]
    if job.resources.gpus:
        args += _gpu_binds()
    args += ["--bind", str(workdir), str(workdir), "--remount-ro", "/", "--chdir", str(workdir), "--"]
    return args + list(job.command)
