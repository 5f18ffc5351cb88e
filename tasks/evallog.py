"""Scores read from Inspect AI's own logs, on the harness's side, without importing inspect_ai.

An `.eval` log is a zip archive (zstd-compressed members, read through `zipfile_zstd`, which inspect-ai
installs) whose `header.json` holds the run's status and results: accuracy and its stderr per scorer.
`inspect view --log-dir DIR` opens the same files.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

__all__ = ["read_log_score", "find_log", "LogError"]


class LogError(ValueError):
    """An evaluation left no readable log, or one without a score."""


def find_log(log_dir: Path) -> Path | None:
    """The newest `.eval` (or `.json`) log in `log_dir`, None when there is none."""
    logs = sorted(Path(log_dir).glob("*.eval")) + sorted(Path(log_dir).glob("*.json"))
    logs = [p for p in logs if p.is_file() and not p.is_symlink()]
    return max(logs, key=lambda p: p.stat().st_mtime) if logs else None


def _header(path: Path) -> dict:
    if path.suffix == ".json":
        return json.loads(path.read_text())
    try:
        import zipfile_zstd  # noqa: F401 - teaches zipfile the zstd method inspect-ai writes with
    except ImportError:
        pass
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("header.json"))


def read_log_score(path: Path) -> dict:
    """{"accuracy", "stderr", "n", "scorer", "log"} of the first scorer in an Inspect log; LogError when the
    log is unreadable, its evaluation did not succeed, or it has no accuracy."""
    path = Path(path)
    try:
        header = _header(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise LogError(f"{path.name}: not a readable Inspect log ({type(exc).__name__}: {exc})") from None
    if header.get("status") != "success":
        error = (header.get("error") or {}).get("message", "")
        raise LogError(f"{path.name}: the evaluation ended with status {header.get('status')!r} {error}".strip())
    results = header.get("results") or {}
    scores = results.get("scores") or []
    metrics = scores[0].get("metrics", {}) if scores else {}
    if "accuracy" not in metrics:
        raise LogError(f"{path.name}: no accuracy in the log's results")
    stderr = metrics.get("stderr", {}).get("value")
    n = results.get("completed_samples") or results.get("total_samples") or 0
    return {"accuracy": float(metrics["accuracy"]["value"]), "stderr": float(stderr or 0.0), "n": int(n),
            "scorer": scores[0].get("name"), "log": str(path)}
