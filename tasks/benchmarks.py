"""`prepare` for tasks scored by Inspect AI or by a PostTrainBench folder's evaluate.py: the visible folder
and the sealed split of a fixed dataset (tasks.dataset, tasks.staging), the chat template, and the built-in
arith-lm base model (tasks.arithlm). Cached like every prepared task, under the cache's file locks.

A dataset's split depends on the cache's secret salt, so its visible folder is keyed by the salt too.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from sandbox.errors import ConfigError
from tasks.spec import Task

__all__ = ["prepare_benchmark", "arith_base_dir", "check_registry_dataset"]

BENCH_VERSION = 1


def _key(*parts: object) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def arith_base_dir(task: Task, root: Path) -> Path:
    """arith-lm, built and pre-trained once per cache (about a minute on one core), its tokenizer holding the
    arith-hf task's chat template whichever task asks for it (`base_model: arith-lm` works in any hf task)."""
    from tasks.arithlm import ARITH_LM, build_base
    from tasks.prepare import _threads, build_once
    from tasks.spec import BUILTIN_DIR

    template = (BUILTIN_DIR / "arith-hf" / "templates" / "arith.j2").read_text()
    target = root / "base" / f"arith-lm-{_key(ARITH_LM, template)}"
    return build_once(target, lambda out: build_base(out, template, _threads()))


def _template(task: Task, base: Path) -> Path | None:
    from tasks.chat import check_template, template_for

    templates = Path(task.ptb["templates_dir"]) if task.ptb and task.ptb.get("templates_dir") else None
    path = template_for(task.chat_template, task.root, base, templates)
    if path is not None:
        check_template(path)
    return path


def check_registry_dataset(task: Task) -> None:
    """A registry task whose dataset is known must find it in the local Hugging Face cache (one line if not)."""
    from tasks.benchmark import REGISTRY_DATASETS
    from tasks.hub import hub_cache

    repo = REGISTRY_DATASETS.get(str(task.bench.task)) if task.bench else None
    if repo is None:
        return
    hub = hub_cache() / ("datasets--" + repo.replace("/", "--"))
    datasets = hub_cache().parent / "datasets" / repo.replace("/", "___")
    if not hub.is_dir() and not datasets.is_dir():
        raise ConfigError(f"{task.root / 'task.yaml'}:1: benchmark.task {task.bench.task} reads the Hugging Face "
                          f"dataset {repo}, which is not in the local cache ({hub}); download it where there is "
                          f"network (huggingface-cli download --repo-type dataset {repo})")


def _needs_inspect(task: Task) -> None:
    if task.evaluator == "inspect" and importlib.util.find_spec("inspect_ai") is None:
        raise ConfigError(f"{task.root / 'task.yaml'}:1: task {task.name} is scored by Inspect AI, which is not "
                          "installed: pip install 'synthteam[inspect]'")
    if task.evaluator == "inspect" and task.provider == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ConfigError(f"{task.root / 'task.yaml'}:1: provider vllm: vllm is not installed here (it needs a GPU; "
                          "pip install vllm), use --provider hf")


def prepare_benchmark(task: Task, base, root: Path, salt: str):
    """The PreparedTask of an Inspect-backed task or a PostTrainBench folder."""
    from tasks.prepare import PreparedTask, build_once, hf_decoy

    _needs_inspect(task)
    if task.bench is not None and task.bench.source == "registry":
        check_registry_dataset(task)
    template = _template(task, base.path)
    sealed_key = _key(salt)[:8]
    key = f"{task.name}-{_key(task.digest, str(base.path), BENCH_VERSION, sealed_key)}"
    split: dict = {}
    visible = build_once(root / "tasks" / key / "visible", lambda out: _visible(task, out, salt, template, split))
    sealed = build_once(root / "sealed" / f"{key}-{sealed_key}", lambda out: _sealed(task, out, salt, split))
    return PreparedTask(
        task=task, base_model_dir=base.path, decoy_model_dir=hf_decoy(task), dev_path=visible / "dev.jsonl",
        data_dir=task.root, read_paths=(base.mount, visible), test_path=sealed / "test.jsonl", cache_dir=root,
        visible_dir=visible, sealed_dir=sealed, chat_template=template)


def _split(task: Task, salt: str, memo: dict) -> tuple[list[dict], list[dict], list[dict]]:
    """(dev, test, pool) of the task's dataset and training file."""
    if "dev" not in memo:
        from tasks.dataset import pool_items, read_items, split_items

        bench, root = task.bench, task.root
        dev, test = [], []
        if bench is not None and bench.sealed:
            items = read_items(root / bench.dataset, bench.fields)
            dev, test = split_items(items, salt, task.splits["dev"], task.splits["test"])
        pool = pool_items(root / bench.train["file"], bench.train["fields"], bench.scorer, test) \
            if bench is not None and bench.train else []
        memo.update(dev=dev, test=test, pool=pool)
    return memo["dev"], memo["test"], memo["pool"]


def _visible(task: Task, out: Path, salt: str, template: Path | None, memo: dict) -> None:
    from tasks.prepare import _say

    dev, _, pool = _split(task, salt, memo)
    if task.evaluator == "ptb":
        from tasks.ptb import write_ptb_visible

        write_ptb_visible(task, out, template)
        _say(f"{task.name}: the PostTrainBench folder as it is (no sealed split: its dev items are test items)")
        return
    from tasks.staging import write_inspect_visible

    write_inspect_visible(task, out, dev, pool, template)
    _say(f"{task.name}: {len(dev)} dev items, a training pool of {len(pool)}")


def _sealed(task: Task, out: Path, salt: str, memo: dict) -> None:
    from tasks.prepare import _say
    from tasks.staging import write_inspect_sealed

    _, test, _ = _split(task, salt, memo)
    write_inspect_sealed(out, test)
    if test:
        _say(f"{task.name}: {len(test)} test items (sealed)")
