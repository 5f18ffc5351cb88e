"""Weight soups: the weighted average of models fine-tuned from the same base (same config, same shapes).

The merged directory keeps the first model's non-weight files (config, vocabulary, tokenizer) and a
`lineage.json` naming its parents and their shared base, which the verifier's lineage check accepts.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch

from sandbox.errors import ConfigError
from tasks.integrity import load_weights

__all__ = ["merge_models"]

_WEIGHT_SUFFIXES = (".pt", ".safetensors", ".bin")


def _weights(n: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"merge: need {n} non-negative weights with a positive sum, got {list(weights)}")
    total = float(sum(weights))
    return [w / total for w in weights]


def _check_same(dirs: list[Path], states: list[dict]) -> None:
    configs = [json.loads((d / "config.json").read_text()) for d in dirs]
    problems = [f"{d}: config.json differs from {dirs[0]}'s" for d, c in zip(dirs[1:], configs[1:], strict=True) if c != configs[0]]
    for d, state in zip(dirs[1:], states[1:], strict=True):
        if set(state) != set(states[0]) or any(state[k].shape != states[0][k].shape for k in state):
            problems.append(f"{d}: weight names or shapes differ from {dirs[0]}'s")
    if problems:
        raise ConfigError(problems)


def merge_models(model_dirs: Sequence[Path], out_dir: Path, weights: Sequence[float] | None = None) -> Path:
    """Average the weights of `model_dirs` (weighted; equal weights by default) into `out_dir`."""
    dirs = [Path(d) for d in model_dirs]
    if not dirs:
        raise ConfigError("merge: no models given")
    missing = [f"{d}: not a model directory (no config.json)" for d in dirs if not (d / "config.json").is_file()]
    if missing:
        raise ConfigError(missing)
    states = [load_weights(d) for d in dirs]
    _check_same(dirs, states)
    coeffs = _weights(len(dirs), weights)
    merged = {k: sum(c * s[k].double() for c, s in zip(coeffs, states, strict=True)).to(states[0][k].dtype)
              for k in states[0]}
    _write(dirs, Path(out_dir), merged, coeffs)
    return Path(out_dir)


def _write(dirs: list[Path], out: Path, state: dict, coeffs: list[float]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in dirs[0].iterdir():
        if path.is_file() and path.suffix not in _WEIGHT_SUFFIXES and path.name != "lineage.json" and not path.name.endswith(".index.json"):
            shutil.copy2(path, out / path.name)
    if (dirs[0] / "model.pt").is_file():
        torch.save(state, out / "model.pt")
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(out / "model.safetensors"))
    parents = [_lineage(d) for d in dirs]
    bases = {p.get("base_weights") for p in parents}
    lineage = {"kind": "merge", "parents": [str(d.resolve()) for d in dirs], "weights": coeffs,
               "base_weights": bases.pop() if len(bases) == 1 else None, "parent_lineage": parents}
    (out / "lineage.json").write_text(json.dumps(lineage, indent=1, sort_keys=True))


def _lineage(model_dir: Path) -> dict:
    try:
        return json.loads((model_dir / "lineage.json").read_text())
    except (OSError, ValueError):
        return {}
