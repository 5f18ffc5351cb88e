"""Base models by reference: a local model directory, or a Hugging Face hub id (`Qwen/Qwen3-1.7B-Base`)
resolved offline from the local Hugging Face cache, never downloaded.

The cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`, laid out as the hub
client writes it: `models--<org>--<name>/refs/<revision>` (a commit hash) and
`models--<org>--<name>/snapshots/<commit>/` (the files, symlinks into `../../blobs/`). A job must see the
whole `models--<org>--<name>/` folder for those links to resolve, so it is the folder a job reads.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import ConfigError

__all__ = ["ResolvedModel", "hub_cache", "resolve_model", "looks_like_hub_id", "OFFLINE_ENV"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Every process that may touch transformers, datasets or Inspect runs with these: nothing asks the Hub.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1"}


@dataclass(frozen=True)
class ResolvedModel:
    """A model directory, and what a job must be able to read for it to load."""

    path: Path  # the directory from_pretrained loads (a snapshot for a hub id)
    mount: Path  # the folder a job reads: `path` itself, or the hub repo folder holding its blobs
    hub_id: str | None = None
    revision: str | None = None  # the commit a hub id resolved to


def hub_cache() -> Path:
    """Where the Hugging Face hub client keeps downloaded repositories on this machine."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "huggingface" / "hub"


def looks_like_hub_id(ref: str) -> bool:
    return bool(_HUB_ID.match(ref)) and not ref.startswith((".", "~"))


def _local(ref: str, relative_to: Path | None) -> Path | None:
    path = Path(ref).expanduser()
    candidates = [path] if path.is_absolute() else [p for p in (relative_to and relative_to / path, path) if p]
    return next((p.resolve() for p in candidates if p.is_dir()), None)


def resolve_model(ref: str, revision: str | None = None, *, where: str = "base_model",
                  relative_to: Path | None = None) -> ResolvedModel:
    """`ref` as a local directory (absolute, or relative to `relative_to` or the working directory), else as
    a hub id in the local cache. ConfigError, one line naming the id and the cache path, when neither."""
    local = _local(ref, relative_to)
    if local is not None:
        if not (local / "config.json").is_file():
            raise ConfigError(f"{where}: {local} is not a model directory (no config.json)")
        return ResolvedModel(local, local)
    if not looks_like_hub_id(ref):
        raise ConfigError(f"{where}: {ref!r} is neither a model directory nor a hub id (org/name)")
    return _from_cache(ref, revision or "main", where)


def _from_cache(hub_id: str, revision: str, where: str) -> ResolvedModel:
    cache = hub_cache()
    repo = cache / ("models--" + hub_id.replace("/", "--"))
    commit = revision if _COMMIT.match(revision) else _read_ref(repo, revision)
    snapshot = repo / "snapshots" / commit if commit else None
    if snapshot is None or not (snapshot / "config.json").exists():
        what = f"revision {revision!r} of {hub_id}" if revision != "main" else hub_id
        raise ConfigError(f"{where}: {what} is not in the local Hugging Face cache ({repo}; set HF_HOME or "
                          f"HF_HUB_CACHE, or download it where there is network: huggingface-cli download {hub_id})")
    repo = repo.resolve()
    return ResolvedModel(repo / "snapshots" / commit, repo, hub_id, commit)


def _read_ref(repo: Path, revision: str) -> str | None:
    try:
        text = (repo / "refs" / revision).read_text().strip()
    except OSError:
        return None
    return text if _COMMIT.match(text) else None
