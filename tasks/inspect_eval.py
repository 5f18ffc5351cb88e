"""One Inspect AI evaluation of a model directory, the way every score of an Inspect-backed task is made:
the job's own dev checks, the harness's dev evaluation and the verifier all run `evaluate` (inside the
sandbox, offline), and the score is read back from the `.eval` log it leaves.

    python -m tasks.inspect_eval --spec benchmark.json --model-path final_model --items dev.jsonl \\
        --limit -1 --log-dir eval --json-output-file dev_eval.json

`benchmark.json` (written by the harness, `tasks.visible`) names the benchmark: a dataset (the items file
given here, `{"id", "prompt", "answer", "choices"?}`) with one of Inspect's scorers or a scorer file beside
it, or an Inspect task (`FILE.py@NAME` beside it, or a registry name), plus the evaluation settings and the
chat template. The command line is PostTrainBench's (`--model-path`, `--limit`, `--json-output-file`,
`--max-tokens`, `--templates-dir`), so a job's copy (`$SYNTHTEAM_VISIBLE/evaluate.py`) runs the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["evaluate", "evaluate_items", "load_spec", "warm_imports", "main"]

_OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1", "INSPECT_DISPLAY": "none"}


def warm_imports() -> float:
    """Import Inspect, its hf provider and what its eval loads lazily (seconds taken), so that what follows
    measures the evaluation, not the imports."""
    started = time.perf_counter()
    for key, value in _OFFLINE.items():
        os.environ.setdefault(key, value)
    import inspect_ai  # noqa: F401
    import inspect_ai.model._providers.hf  # noqa: F401 - torch, transformers and the provider
    from inspect_ai.dataset import json_dataset  # noqa: F401
    from inspect_ai.scorer import match  # noqa: F401
    from inspect_ai.solver import generate  # noqa: F401

    for lazy in ("inspect_ai.model._openai_responses", "inspect_ai.agent._acp.server"):
        if importlib.util.find_spec(lazy) is not None:  # loaded at the first sample otherwise
            __import__(lazy)
    return time.perf_counter() - started


def _replies_without_polling() -> None:
    """Make Inspect's hf provider hand each sample its reply as soon as its batch is generated.

    The provider (inspect_ai 0.3.x, `model/_providers/hf.py`) queues every sample's request for a thread that
    generates them in batches, and each waiting sample looks at its result once a second (`anyio.sleep(1)`).
    On a CPU the batches take well under a second, so an evaluation waited about as long as it computed:
    64 items 2.57 s → 0.73 s, 768 items 24.6 s → 11.5 s, the same completions (benchmarks/bench_inspect_replies.py,
    LOG.md 2026-12-04). The starter's checkpoint checks, the harness's dev evaluations and the verifier all run
    here, and a core a sleeping evaluation holds is one no other job can use. This keeps the provider's queue, batches and thread, and
    awaits the same future instead of polling it. When the provider's internals are not the ones this knows
    (another inspect_ai version), or the event loop is not asyncio's, the provider's own path runs."""
    import inspect_ai.model._providers.hf as hf

    if getattr(hf.batched_generate, "_synthteam", False):
        return
    needed = ("batch_queue", "process_batches", "_QueueItem", "_batch_key", "Thread", "Future")
    if not all(hasattr(hf, name) for name in needed):
        return
    polling = hf.batched_generate

    async def batched_generate(input):  # noqa: A002 - the provider's own parameter name
        import asyncio

        import sniffio

        if sniffio.current_async_library() != "asyncio":
            return await polling(input)
        if hf.batch_thread is None:
            hf.batch_thread = hf.Thread(target=hf.process_batches, daemon=True)
            hf.batch_thread.start()
        future = hf.Future()
        hf.batch_queue.put(hf._QueueItem(input=input, future=future, key=hf._batch_key(input)))
        return await asyncio.wrap_future(future)

    batched_generate._synthteam = True
    batched_generate._polling = polling  # the provider's own, for a test to compare with
    hf.batched_generate = batched_generate


def load_spec(path: Path) -> dict:
    spec = json.loads(Path(path).read_text())
    spec["dir"] = str(Path(path).resolve().parent)
    return spec


def _load_function(spec_dir: Path, ref: str):
    file, _, name = ref.partition("@")
    path = Path(spec_dir) / file
    module_spec = importlib.util.spec_from_file_location(f"synthteam_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, name)


def _scorer(spec: dict):
    args = dict(spec.get("scorer_args") or {})
    if "@" in spec["scorer"]:
        return _load_function(Path(spec["dir"]), spec["scorer"])(**args)
    import inspect_ai.scorer as scorers

    return getattr(scorers, spec["scorer"])(**args)


def _solver(spec: dict):
    from inspect_ai.solver import generate, multiple_choice

    from tasks.chat import MC_TEMPLATE

    return multiple_choice(template=MC_TEMPLATE) if spec["solver"] == "multiple_choice" else generate()


def _task(spec: dict, items: Path | None):
    """An Inspect Task for a dataset benchmark, else the `FILE.py@NAME` or registry name Inspect resolves."""
    if spec["source"] == "file":
        file, _, name = spec["task"].partition("@")
        return f"{Path(spec['dir']) / file}@{name}"
    if spec["source"] == "registry":
        return spec["task"]
    from inspect_ai import Task
    from inspect_ai.dataset import FieldSpec, json_dataset

    dataset = json_dataset(str(items), FieldSpec(input="prompt", target="answer", id="id", choices="choices"))
    return Task(dataset=dataset, solver=_solver(spec), scorer=_scorer(spec), name=spec["name"])


def _model(spec: dict, model_path: Path, provider: str, device: str | None) -> tuple[str, dict]:
    settings = spec.get("evaluation") or {}
    template = spec.get("chat_template")
    template_path = Path(spec["dir"]) / template if template else None
    if provider == "vllm":
        args: dict[str, Any] = {"gpu_memory_utilization": settings.get("gpu_memory_utilization", 0.5)}
        if template_path:
            args["chat_template"] = str(template_path)
        return f"vllm/{model_path}", args
    args = {"model_path": str(model_path), "device": device or ("cuda:0" if _cuda() else "cpu"), "do_sample": False}
    if template_path:
        args["chat_template"] = template_path.read_text()
    return "hf/local", args


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _count(items: Path | None, limit: int | None) -> int | None:
    if items is None:
        return None
    n = sum(1 for line in Path(items).read_text().splitlines() if line.strip())
    return n if limit is None else min(n, limit)


def evaluate(spec: dict, model_path: Path, *, items: Path | None = None, limit: int | None = None,
             log_dir: Path = Path("eval"), max_tokens: int | None = None, provider: str | None = None,
             device: str | None = None, max_connections: int | None = None, samples: bool = False) -> dict:
    """Run the benchmark on `model_path` with inspect_ai.eval; {"accuracy", "stderr", "n", "log"} read from
    the log it wrote (and with `samples`, "correct": each sample's score in [0, 1], in the items' order).
    RuntimeError (one line) when the evaluation did not succeed."""
    from inspect_ai import eval as inspect_eval

    from tasks.evallog import read_log_score

    settings = spec.get("evaluation") or {}
    provider = provider or settings.get("provider", "hf")
    if provider == "hf":
        _replies_without_polling()
    model, model_args = _model(spec, Path(model_path), provider, device)
    n = _count(items, limit)
    # The hf provider batches what it has gathered once `max_connections` requests wait (else after 2 s of
    # quiet): at most as many as there are samples, so the last batch never waits.
    connections = max(1, min(max_connections or settings.get("max_connections", 32), n or 10**6))
    extra = {"temperature": settings.get("temperature", 0.0)} if provider == "vllm" else {}
    logs = inspect_eval(
        _task(spec, items), model=model, model_args=model_args, task_args=dict(spec.get("task_args") or {}),
        log_dir=str(log_dir), log_format="eval", display="none", limit=limit, epochs=settings.get("epochs", 1),
        seed=settings.get("seed", 0), max_tokens=max_tokens or spec.get("max_tokens"), max_connections=connections,
        max_samples=connections, score_display=False, log_realtime=False, **extra)
    log = logs[0]
    if log.status != "success":
        message = log.error.message if log.error else log.status
        raise RuntimeError(f"the Inspect evaluation ended with status {log.status}: {' '.join(str(message).split())[:300]}")
    score = read_log_score(Path(log.location))
    if samples:
        score["correct"] = _sample_values(log)
    return score


def _sample_values(log) -> list[float]:
    from inspect_ai.scorer import value_to_float

    to_float = value_to_float()
    rows = sorted(log.samples or [], key=lambda s: (s.epoch, _order(s.id)))
    return [to_float(next(iter(s.scores.values())).value) if s.scores else 0.0 for s in rows]


def _order(sample_id) -> tuple:
    return (0, int(sample_id), "") if str(sample_id).isdigit() else (1, 0, str(sample_id))


def evaluate_items(spec_path: Path, model_path: Path, items: Sequence[dict], log_dir: Path, **kwargs) -> dict:
    """`evaluate` on a list of items (a job's own checks on dev, a holdout, ...)."""
    with tempfile.TemporaryDirectory(prefix="synthteam-items-") as tmp:
        path = Path(tmp) / "items.jsonl"
        path.write_text("".join(json.dumps(_row(i, n)) + "\n" for n, i in enumerate(items)))
        return evaluate(load_spec(spec_path), model_path, items=path, log_dir=log_dir, samples=True, **kwargs)


def _row(item: dict, number: int) -> dict:
    """The scored form of an item, numbered in order: a pool item scores against its `target`, not the text
    trained on."""
    row = {"id": str(number), "prompt": item["prompt"], "answer": item.get("target", item["answer"])}
    if item.get("choices"):
        row["choices"] = item["choices"]
    return row


def _parser(spec_default: Path | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Score a model directory with the task's Inspect AI evaluation.")
    p.add_argument("--spec", type=Path, default=spec_default, required=spec_default is None)
    p.add_argument("--model-path", default="final_model")
    p.add_argument("--items", type=Path, default=None, help="items (JSON lines); default: dev.jsonl beside the spec")
    p.add_argument("--limit", type=int, default=-1, help="score only the first N items (-1: all)")
    p.add_argument("--json-output-file", default=None)
    p.add_argument("--log-dir", type=Path, default=Path("eval"), help="where the .eval log goes (inspect view)")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--max-connections", type=int, default=None)
    p.add_argument("--templates-dir", default=None, help="accepted for PostTrainBench compatibility")
    p.add_argument("--provider", choices=["hf", "vllm"], default=os.environ.get("SYNTHTEAM_PROVIDER") or None)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    return p


def main(argv: list[str] | None = None, spec: Path | None = None) -> int:
    args = _parser(spec).parse_args(argv)
    imports = warm_imports()
    import torch

    torch.set_num_threads(max(1, args.threads))
    loaded = load_spec(args.spec)
    items = args.items or (Path(loaded["dir"]) / "dev.jsonl" if loaded["source"] == "dataset" else None)
    started = time.perf_counter()
    try:
        result = evaluate(loaded, Path(args.model_path), items=items, limit=None if args.limit < 0 else args.limit,
                          log_dir=args.log_dir, max_tokens=args.max_tokens, provider=args.provider,
                          device=args.device, max_connections=args.max_connections)
    except Exception as exc:  # noqa: BLE001 - Inspect's own errors (a task not found, a dataset offline): one line
        what = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
        print(f"error: {' '.join(what.split())[:500]}", file=sys.stderr)
        return 1
    result = {**result, "import_seconds": round(imports, 3), "eval_seconds": round(time.perf_counter() - started, 3)}
    if args.json_output_file:
        Path(args.json_output_file).write_text(json.dumps(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip torch's and Inspect's slow interpreter teardown
