"""Build and cache what a task needs: the pre-trained base model, the decoy, the visible data and the
sealed test split.

Layout under the cache (`$SYNTHTEAM_CACHE`, else `~/.cache/synthteam`), keyed by config hashes:

    base/<hash>/                   the built-in base model (shared by every tiny task)
    tasks/<task>-<hash>/visible/   what a job may read: dev.jsonl, train.jsonl, task.json, evaluate.py
    tasks/<task>-<hash>/decoy/     the decoy "instruct" checkpoint (never readable by a job)
    sealed/<task>-<hash>/          test.jsonl (and the cached baseline): only the verifier reads it
    sealed/.salt                   the secret mixed into every test split's seed (made once per cache)

The test split is drawn from `test_seed` *and* the salt, so a job that knows the task's generator and
its seed still cannot rebuild it. Builders write into a temporary folder and rename it into place under
a file lock, so two processes preparing at once build it once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.spec import Task
from tasks.splits import load_generator, make_items, write_jsonl

__all__ = ["PreparedTask", "prepare_task", "cache_root", "base_model_dir", "weights_digest", "sealing_salt", "PRETRAIN",
           "CACHE_VERSION", "build_once", "hf_decoy"]

# Pre-training of the built-in base model: a fixed recipe from a fixed seed (part of the cache key).
PRETRAIN = {"seed": 0, "steps": 450, "batch_size": 32, "seq_len": 64, "lr": 3e-3, "corpus_chars": 2_000_000, "v": 1}
CACHE_VERSION = 2  # 2: visible/ holds the training pool and the task card; the test split is salted
SALT_VAR = "SYNTHTEAM_TEST_SALT"  # share one salt across machines (the same test items everywhere)


@dataclass(frozen=True)
class PreparedTask:
    task: Task
    base_model_dir: Path
    decoy_model_dir: Path | None
    dev_path: Path  # visible_dir / "dev.jsonl"
    data_dir: Path  # the task folder on the host (data.py, task.yaml): never readable by a job
    read_paths: tuple[Path, ...]  # what a job may read: (base_model_dir, visible_dir)
    test_path: Path  # sealed_dir / "test.jsonl": only the verifier reads it
    cache_dir: Path
    visible_dir: Path  # dev.jsonl, train.jsonl, task.json, evaluate.py
    sealed_dir: Path
    chat_template: Path | None = None  # the template every evaluation and the starter apply (None: the tokenizer's)

    @property
    def train_path(self) -> Path:
        return self.visible_dir / "train.jsonl"

    @property
    def card_path(self) -> Path:
        return self.visible_dir / "task.json"


def cache_root(cache_dir: Path | None = None) -> Path:
    root = cache_dir or os.environ.get("SYNTHTEAM_CACHE") or Path.home() / ".cache" / "synthteam"
    return Path(root).expanduser().resolve()


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def weights_digest(model_dir: Path) -> str:
    """sha256 of a model directory's weight files."""
    h = hashlib.sha256()
    for path in sorted(Path(model_dir).iterdir()):
        if path.suffix in (".pt", ".safetensors", ".bin"):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _say(message: str) -> None:
    print(f"[prepare] {message}", file=sys.stderr, flush=True)


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(tmp)` and rename tmp to `target`, unless `target` exists; one builder at a time."""
    if target.exists():
        return target
    with _locked(target.parent / f".{target.name}.lock"):
        if target.exists():
            return target
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            build(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # nothing half-built is left in the cache
            raise
        tmp.rename(target)
    return target


def base_model_dir(cache_dir: Path | None = None) -> Path:
    """The built-in base model, pre-trained on first use (about a minute on 2 cores)."""
    from tasks.tinylm import TinyConfig

    key = _hash({"config": asdict(TinyConfig()), "pretrain": PRETRAIN})
    return build_once(cache_root(cache_dir) / "base" / key, _pretrain)


def _threads() -> int:
    # One thread: on a shared machine, OpenMP threads spin against other processes and can run 20x slower.
    return int(os.environ.get("SYNTHTEAM_PREPARE_THREADS", "1"))


def _pretrain(out: Path) -> None:
    import torch

    from tasks import corpus, tinylm, training

    torch.set_num_threads(_threads())
    _say(f"pre-training the base model ({PRETRAIN['steps']} steps, once; cached in {out.parent})")
    tok = tinylm.CharTokenizer()
    text = corpus.corpus_text(random.Random(PRETRAIN["seed"]), PRETRAIN["corpus_chars"])
    data = training.encode_chunks(tok.encode, text, PRETRAIN["seq_len"])
    model = tinylm.new_model(seed=PRETRAIN["seed"])
    settings = training.TrainSettings(lr=PRETRAIN["lr"], steps=PRETRAIN["steps"], batch_size=PRETRAIN["batch_size"],
                                      warmup_frac=0.02, weight_decay=0.01, seed=PRETRAIN["seed"], log_every=50)
    started = time.perf_counter()
    outcome = training.train(model, data, settings, log=lambda row: _progress(row, PRETRAIN["steps"]))
    tinylm.save_model(model, out, {"kind": "pretrained", "pretrain": PRETRAIN, "steps": outcome.steps})
    _say(f"base model ready in {time.perf_counter() - started:.0f}s")


def _progress(row: dict, total: int) -> None:
    if "train_loss" in row and row["step"] % 100 == 0:
        _say(f"  step {row['step']}/{total}  loss {row['train_loss']:.3f}")


def prepare_task(task: Task, cache_dir: Path | None = None) -> PreparedTask:
    """Everything `task` needs, built once and cached; safe to call from several processes at once."""
    root = cache_root(cache_dir)
    base = _base(task, root)
    salt = sealing_salt(root)
    if task.evaluator != "home":
        from tasks.benchmarks import prepare_benchmark

        return prepare_benchmark(task, base, root, salt)
    key = f"{task.name}-{_hash({'task': task.digest, 'base': str(base.path), 'v': CACHE_VERSION})}"
    visible = build_once(root / "tasks" / key / "visible", lambda out: _write_visible(task, out))
    sealed = build_once(root / "sealed" / f"{key}-{_hash(salt)[:8]}", lambda out: _write_test(task, salt, out))
    decoy = _decoy(task, base.path, root / "tasks" / key / "decoy")
    return PreparedTask(
        task=task, base_model_dir=base.path, decoy_model_dir=decoy, dev_path=visible / "dev.jsonl",
        data_dir=task.root, read_paths=(base.mount, visible), test_path=sealed / "test.jsonl", cache_dir=root,
        visible_dir=visible, sealed_dir=sealed,
    )


def _base(task: Task, root: Path):
    """The base model: the built-in one of a tiny task, arith-lm (built here), or a directory or hub id."""
    from tasks.hub import ResolvedModel, resolve_model

    if task.kind == "tiny":
        path = base_model_dir(root)
        return ResolvedModel(path, path)
    if task.base_model == "arith-lm":
        from tasks.benchmarks import arith_base_dir

        path = arith_base_dir(task, root)
        return ResolvedModel(path, path)
    from sandbox.errors import ConfigError

    try:
        return resolve_model(task.base_model, task.revision, relative_to=task.root)
    except ConfigError as exc:
        raise ConfigError(f"{task.root / 'task.yaml'}:1: {exc}") from None


def sealing_salt(cache_dir: Path | None = None) -> str:
    """The secret part of every test split's seed: `$SYNTHTEAM_TEST_SALT`, else made once per cache."""
    if os.environ.get(SALT_VAR):
        return os.environ[SALT_VAR]
    path = cache_root(cache_dir) / "sealed" / ".salt"
    if not path.is_file():
        with _locked(path.parent / ".salt.lock"):
            if not path.is_file():
                tmp = path.with_name(f".salt.tmp-{os.getpid()}")
                tmp.write_text(os.urandom(16).hex())
                tmp.chmod(0o600)
                tmp.rename(path)
    return path.read_text().strip()


def task_items(task: Task, rng: random.Random, n: int, hard_frac: float, split: str) -> list[dict]:
    """`n` items from the task's data.py; any failure of that file is reported as `data.py:LINE: ...`."""
    try:
        return make_items(load_generator(task.root), rng, n, hard_frac, split)
    except Exception as exc:  # noqa: BLE001 - the task author's code: any failure is a task-file problem
        raise _data_error(task, exc) from None


def _data_error(task: Task, exc: Exception):
    from sandbox.errors import ConfigError

    path = task.root / "data.py"
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = tb.tb_lineno
        tb = tb.tb_next
    what = str(exc) if isinstance(exc, ValueError) and not line else f"{type(exc).__name__}: {exc}"
    if "distinct" in str(exc):
        what += " (fewer distinct prompts than the splits and training ask for: widen the generator)"
    return ConfigError(f"{path}:{line or 1}: {' '.join(what.split())}")


def _write_visible(task: Task, out: Path) -> None:
    from tasks.splits import make_pool
    from tasks.visible import POOL_SEED, pool_size, write_visible

    s = task.splits
    dev = task_items(task, random.Random(s["dev_seed"]), s["dev"], s["hard_frac"], "dev")
    try:
        pool = make_pool(load_generator(task.root), random.Random(POOL_SEED), pool_size(task), "train")
    except Exception as exc:  # noqa: BLE001 - the task author's code: reported like task_items does
        raise _data_error(task, exc) from None
    write_visible(task, out, dev, pool)
    _say(f"{task.name}: {len(dev)} dev items, a training pool of {len(pool)} ({sum(i['hard'] for i in pool)} hard)")


def _write_test(task: Task, salt: str, out: Path) -> None:
    s = task.splits
    rng = random.Random(f"{s['test_seed']}:{salt}")
    items = task_items(task, rng, s["test"], s["hard_frac"], "test")
    write_jsonl(out / "test.jsonl", items)
    _say(f"{task.name}: {len(items)} test items (sealed)")


def _decoy(task: Task, base: Path, target: Path) -> Path | None:
    if task.kind == "hf":
        return hf_decoy(task)
    return build_once(target, lambda out: _train_decoy(task, base, out))


def hf_decoy(task: Task) -> Path | None:
    """An hf task's decoy (`decoy: {model: DIR or hub id}`), None without one."""
    from tasks.hub import resolve_model

    model = task.decoy.get("model")
    return resolve_model(str(model), where="decoy.model", relative_to=task.root).path if model else None


def _train_decoy(task: Task, base: Path, out: Path) -> None:
    """The base fine-tuned on the task, stored with its residual channels permuted (same function)."""
    import torch

    from tasks import tinylm, training
    from tasks.lm import load_lm

    torch.set_num_threads(_threads())
    _say(f"{task.name}: training the decoy checkpoint")
    d = {"steps": 120, "batch_size": 32, "lr": 3e-3, "seed": 7, **task.decoy}
    lm = load_lm(base)
    items = task_items(task, random.Random(d["seed"]), 20_000, 0.5, "train")
    data = training.encode_pairs(lm.encode, [(i["prompt"], i["answer"]) for i in items], lm.eos_id, lm.ctx)
    settings = training.TrainSettings(lr=d["lr"], steps=d["steps"], batch_size=d["batch_size"], seed=d["seed"])
    training.train(lm.model, data, settings)
    decoy = tinylm.permute_channels(lm.model, seed=d["seed"])
    tinylm.save_model(decoy, out, {"kind": "decoy", "task": task.name, "note": "instruct checkpoint; do not submit"})
