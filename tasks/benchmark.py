"""A task's benchmark as an Inspect AI evaluation: the `benchmark:` and `evaluation:` blocks of task.yaml.

    benchmark:                       a dataset file in the task folder, scored by one of Inspect's scorers
      name: arith-word-problems
      dataset: problems.jsonl        JSONL or CSV
      fields: {input: question, target: answer, id: id}     (choices: FIELD for multiple choice)
      scorer: match                  match | includes | exact | pattern | choice | f1 | FILE.py@NAME
      scorer_args: {numeric: true}
      train: {file: train.jsonl, solution: worked}     optional training pool (solution: the field to train on)

    benchmark:                       or an Inspect task: in the folder, or from an installed registry
      name: gsm8k
      task: inspect_evals/gsm8k      (or evals.py@my_task)
      task_args: {fewshot: 0}

    evaluation: {provider: hf, max_connections: 32, epochs: 1, seed: 0, temperature: 0.0, dev_limit: 64}

Everything here is checked at load time without importing Inspect: file names, fields (in `tasks.dataset`),
scorer names and their arguments, and whether a registry task's package is installed.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasks.solutions import parse_python

__all__ = ["BenchmarkSpec", "EvaluationSpec", "Benchmark", "SCORER_ARGS", "benchmark_problems", "to_benchmark",
           "REGISTRY_DATASETS"]

# Inspect's scorers a dataset task may name, with the keyword arguments each takes (checked against
# Inspect's signatures by tests/test_tasks_inspect.py). `choice` pairs with the multiple_choice solver.
SCORER_ARGS: dict[str, tuple[str, ...]] = {
    "match": ("location", "ignore_case", "numeric"),
    "includes": ("ignore_case",),
    "exact": (),
    "pattern": ("pattern", "ignore_case", "match_all"),
    "choice": (),
    "f1": ("stop_words",),
}
# Registry tasks whose Hugging Face dataset is known: checked in the local cache before any job starts.
REGISTRY_DATASETS = {"inspect_evals/gsm8k": "openai/gsm8k", "inspect_evals/humaneval": "openai/openai_humaneval",
                     "inspect_evals/mmlu_0_shot": "cais/mmlu", "inspect_evals/arc_easy": "allenai/ai2_arc",
                     "inspect_evals/arc_challenge": "allenai/ai2_arc", "inspect_evals/hellaswag": "Rowan/hellaswag"}


class FieldsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str = "input"
    target: str = "target"
    id: str | None = None  # none: the row number is the id
    choices: str | None = None


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    fields: FieldsSpec | None = None  # default: the benchmark's
    solution: str | None = None  # the field to train on (a worked answer); default: the target


class BenchmarkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    dataset: str | None = None
    fields: FieldsSpec = FieldsSpec()
    scorer: str = "match"
    scorer_args: dict[str, Any] = {}
    train: TrainSpec | None = None
    task: str | None = None
    task_args: dict[str, Any] = {}
    files: list[str] = []  # files an Inspect task in the folder reads, copied beside it

    @model_validator(mode="after")
    def _one_source(self) -> BenchmarkSpec:
        if self.dataset is not None and self.task is not None:
            raise ValueError("give one of `dataset` (a JSONL or CSV file) and `task` (FILE.py@NAME or a registry "
                             "name such as inspect_evals/gsm8k), not both")
        return self

    @property
    def inspect(self) -> bool:
        """Scored by Inspect AI (a dataset or a task); a name alone is a task scored by its evaluate.py."""
        return self.dataset is not None or self.task is not None


class EvaluationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Literal["hf", "vllm"] = "hf"
    max_connections: int = Field(32, ge=1, le=4096)  # the hf provider's batch size
    epochs: int = Field(1, ge=1, le=100)
    seed: int = 0
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    dev_limit: int | None = Field(None, ge=1)  # items of dev the harness scores (None: all)
    gpu_memory_utilization: float = Field(0.5, gt=0.0, le=1.0)  # vllm only
    # the longest one dev evaluation may take (its budget reservation); default 60 s with hf, 300 s with vllm
    # (its server starts in a minute or two)
    max_seconds: float | None = Field(None, gt=0.0, le=86400.0)


@dataclass(frozen=True)
class Benchmark:
    """What an Inspect evaluation of the task needs, as plain values (the JSON written for jobs)."""

    name: str
    source: str  # dataset | file | registry
    dataset: str | None = None
    fields: dict = field(default_factory=dict)
    scorer: str = "match"
    scorer_args: dict = field(default_factory=dict)
    train: dict | None = None  # {"file", "fields"}
    task: str | None = None
    task_args: dict = field(default_factory=dict)
    files: tuple[str, ...] = ()

    @property
    def solver(self) -> str:
        return "multiple_choice" if self.scorer == "choice" else "generate"

    @property
    def sealed(self) -> bool:
        """A dataset in the folder is split into a visible dev part and a sealed test part; an Inspect task's
        own dataset is not (its dev evaluation is a `--limit` of the items the verifier scores)."""
        return self.source == "dataset"

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "scorer": self.scorer, "scorer_args": dict(self.scorer_args),
                "solver": self.solver, "task": self.task, "task_args": dict(self.task_args)}


def to_benchmark(spec: BenchmarkSpec) -> Benchmark:
    source = "dataset" if spec.dataset else ("file" if "@" in str(spec.task) else "registry")
    train = None
    if spec.train is not None:
        inherited = {**spec.fields.model_dump(), "id": None}  # a training file needs no ids
        fields = {**(spec.train.fields.model_dump() if spec.train.fields else inherited), "solution": spec.train.solution}
        train = {"file": spec.train.file, "fields": fields}
    return Benchmark(spec.name, source, spec.dataset, spec.fields.model_dump(), spec.scorer, dict(spec.scorer_args),
                     train, spec.task, dict(spec.task_args), tuple(spec.files))


def benchmark_problems(bench: Benchmark, root: Path) -> list[tuple[tuple, str]]:
    """(location in task.yaml, what is wrong) for each problem of a benchmark; [] when it can run."""
    problems: list[tuple[tuple, str]] = []
    if importlib.util.find_spec("inspect_ai") is None:
        problems.append((("benchmark",), "an Inspect AI benchmark needs inspect-ai: pip install 'synthteam[inspect]'"))
    if bench.source == "dataset":
        problems += _scorer_problems(bench, root)
    elif bench.source == "file":
        problems += _at_problems(bench.task, root, ("benchmark", "task"), "task")
    else:
        problems += _registry_problems(bench.task)
    for i, name in enumerate(bench.files):
        if not _inside(root, name).is_file():
            problems.append((("benchmark", "files", i), f"{name}: no such file in the task folder"))
    return problems


def _scorer_problems(bench: Benchmark, root: Path) -> list[tuple[tuple, str]]:
    where = ("benchmark", "scorer")
    if "@" in bench.scorer:
        return _at_problems(bench.scorer, root, where, "scorer")
    if bench.scorer not in SCORER_ARGS:
        return [(where, f"unknown scorer {bench.scorer!r} (Inspect's: {', '.join(SCORER_ARGS)}; or FILE.py@NAME, "
                        "a @scorer function in the task folder)")]
    allowed = SCORER_ARGS[bench.scorer]
    bad = [k for k in bench.scorer_args if k not in allowed]
    if bad:
        return [(("benchmark", "scorer_args", bad[0]), f"{bench.scorer}() takes no argument {bad[0]!r} "
                                                         f"(it takes: {', '.join(allowed) or 'none'})")]
    if bench.scorer == "pattern" and "pattern" not in bench.scorer_args:
        return [(("benchmark", "scorer_args"), "pattern() needs scorer_args: {pattern: REGEX}")]
    if bench.scorer == "choice" and not bench.fields.get("choices"):
        return [(("benchmark", "fields"), "the choice scorer needs fields: {choices: FIELD} (a list per item)")]
    return []


def _inside(root: Path, name: str) -> Path:
    return (root / name).resolve()


def _at_problems(ref: str, root: Path, where: tuple, what: str) -> list[tuple[tuple, str]]:
    """FILE.py@NAME: the file is in the task folder and defines a function NAME."""
    file, _, name = ref.partition("@")
    path = _inside(root, file)
    if not file.endswith(".py") or not name or root.resolve() not in path.parents:
        return [(where, f"{ref!r}: expected FILE.py@NAME with FILE.py in the task folder")]
    if not path.is_file():
        return [(where, f"{file}: no such file in the task folder")]
    try:
        tree = parse_python(path.read_text())
    except SyntaxError as exc:
        return [(where, f"{file}:{exc.lineno}: syntax error: {exc.msg}")]
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    if name not in names:
        return [(where, f"{file} defines no function {name}() (an Inspect @{what})")]
    return []


def _registry_problems(ref: str | None) -> list[tuple[tuple, str]]:
    package = str(ref).split("/", 1)[0]
    if "/" not in str(ref) or not package.isidentifier():
        return [(("benchmark", "task"), f"{ref!r}: expected FILE.py@NAME or a registry name such as "
                                        "inspect_evals/gsm8k")]
    if importlib.util.find_spec(package) is None:
        pip = package.replace("_", "-")
        return [(("benchmark", "task"), f"the registry task {ref} needs the package {package}, which is not "
                                        f"installed (pip install {pip})")]
    return []
