"""Task files: `task.yaml` validated (pydantic, `FILE:LINE` errors) into a frozen `Task` with its `Knob`s.

A task folder holds `task.yaml` and either `evaluate.py` (the home-made scorer, PostTrainBench command
line) with `data.py` (the item generator), or a `benchmark:` block naming an Inspect AI evaluation
(`tasks.benchmark`: a dataset file with an Inspect scorer, or an Inspect task). A PostTrainBench task
folder (`benchmark.txt` + `evaluate.py`, no task.yaml) loads through `tasks.ptb`. Built-in tasks live in
`tasks/builtin/<name>/`.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sandbox.errors import ConfigError
from sandbox.units import parse_count, parse_duration
from tasks.benchmark import Benchmark, BenchmarkSpec, EvaluationSpec, benchmark_problems, to_benchmark
from tasks.yamlio import line_of, load_yaml, validate_model

__all__ = ["Knob", "inert_knobs", "Task", "load_task", "list_tasks", "BUILTIN_TASKS", "BUILTIN_DIR"]

BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTIN_TASKS = ("reverse", "add3", "fncall", "arith-hf", "arith-hard")  # the first one is the default task
REQUIRED_FILES = ("evaluate.py", "data.py")  # of a task scored by the home-made evaluator
BUILTIN_BASES = {"tiny": ("tinylm-base",), "hf": ("arith-lm",)}  # base models built at prepare time


@dataclass(frozen=True)
class Knob:
    """One recipe setting a researcher (or an agent) may choose, with its type and range."""

    name: str
    kind: str  # float | int | choice | bool
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    default: Any = None
    help: str = ""
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # ((knob, values), ...): it acts only where each knob has one of its values

    def sample(self, rng: random.Random) -> Any:
        if self.kind == "choice":
            return rng.choice(self.choices)
        if self.kind == "bool":
            return rng.random() < 0.5
        lo, hi = float(self.low), float(self.high)
        x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if self.log else rng.uniform(lo, hi)
        return int(round(x)) if self.kind == "int" else x

    def validate(self, value: Any) -> Any:
        """The value, coerced to the knob's type; ValueError when it has the wrong type or range."""
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.name}: {value!r} is not one of {list(self.choices)}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name}: expected true or false, got {value!r}")
            return value
        return self._number(value)

    def _number(self, value: Any) -> Any:
        ok = isinstance(value, int) if self.kind == "int" else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise ValueError(f"{self.name}: expected {'an integer' if self.kind == 'int' else 'a number'}, got {value!r}")
        if not float(self.low) <= value <= float(self.high):
            raise ValueError(f"{self.name}: {value!r} is outside [{self.low:g}, {self.high:g}]")
        return int(value) if self.kind == "int" else float(value)


def inert_knobs(config: Mapping[str, Any], knobs: Mapping[str, Knob]) -> set[str]:
    """The knobs whose `when:` `config` does not meet (a knob it leaves out counts at its default): in this
    config they change nothing, so two configs that differ only in them run the same experiment."""
    def value(name: str) -> Any:
        got = config.get(name)
        return knobs[name].default if got is None and name in knobs else got

    return {k.name for k in knobs.values() if k.when and any(value(n) not in values for n, values in k.when)}


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    root: Path
    base_model: str
    benchmark: str
    budget: Mapping[str, str]
    device: str
    rules: tuple[str, ...]
    knobs: Mapping[str, Knob]
    kind: str
    reference: Mapping[str, Any]
    digest: str
    max_new_tokens: int = 32
    splits: Mapping[str, Any] = field(default_factory=dict)  # dev, test, dev_seed, test_seed, hard_frac
    decoy: Mapping[str, Any] = field(default_factory=dict)  # tiny: {"steps": ...}; hf: {"model": path}
    bench: Benchmark | None = None  # an Inspect AI benchmark (None: data.py + evaluate.py)
    evaluation: Mapping[str, Any] = field(default_factory=dict)  # Inspect settings (tasks.benchmark)
    chat_template: str | None = None  # a template file in the folder, "auto", or None: the tokenizer's own
    revision: str | None = None  # of a hub-id base model
    ptb: Mapping[str, Any] | None = None  # a PostTrainBench folder's settings (tasks.ptb)

    @property
    def evaluator(self) -> str:
        """Who scores: `home` (tasks.evaluation), `inspect` (tasks.inspect_eval) or `ptb` (the folder's own
        evaluate.py, run unchanged)."""
        return "ptb" if self.ptb is not None else ("inspect" if self.bench is not None else "home")

    @property
    def provider(self) -> str:
        return str(self.evaluation.get("provider", "hf"))

    def defaults(self) -> dict[str, Any]:
        return {name: knob.default for name, knob in self.knobs.items()}

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with `config`; ConfigError listing every unknown or bad key."""
        problems, out = [], self.defaults()
        for key, value in config.items():
            if key not in self.knobs:
                problems.append(f"config: unknown knob {key!r} (task {self.name} has: {', '.join(self.knobs)})")
                continue
            try:
                out[key] = self.knobs[key].validate(value)
            except ValueError as exc:
                problems.append(f"config: {exc}")
        if problems:
            raise ConfigError(problems)
        return out

    @property
    def evaluate_path(self) -> Path:
        return self.root / "evaluate.py"


class KnobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["float", "int", "choice", "bool"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[str | int | float | bool] | None = None
    default: Any
    help: str = ""
    when: dict[str, Any] | None = None  # {knob: value or [values]}: this knob acts only in configs that match

    @model_validator(mode="after")
    def _consistent(self) -> KnobSpec:
        if self.kind in ("float", "int"):
            if self.low is None or self.high is None or self.low > self.high:
                raise ValueError("a float or int knob needs low <= high")
            if self.log and self.low <= 0:
                raise ValueError("a log knob needs low > 0")
        if self.kind == "choice" and not self.choices:
            raise ValueError("a choice knob needs a non-empty list of choices")
        return self


class SplitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dev: int = Field(256, ge=8, le=100_000)
    test: int = Field(512, ge=8, le=100_000)
    dev_seed: int = 1001
    test_seed: int = 2002
    hard_frac: float = Field(0.5, ge=0.0, le=1.0)


class TaskFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,40}$")
    description: str
    kind: Literal["tiny", "hf"] = "tiny"
    base_model: str
    revision: str | None = None
    benchmark: BenchmarkSpec  # a name alone (a string): scored by the folder's evaluate.py and data.py
    evaluation: EvaluationSpec = EvaluationSpec()
    chat_template: str | None = None
    budget: dict[str, str | int | float] = {"wall": "4m", "job_seconds": "8m", "job": "60s"}
    device: Literal["cpu", "cuda"] = "cpu"
    rules: list[str] = []
    max_new_tokens: int = Field(32, ge=1, le=4096)
    splits: SplitSpec = SplitSpec()
    decoy: dict[str, Any] = {}
    knobs: dict[str, KnobSpec] = {}  # none given: the built-in knobs of the kind (reverse's, arith-hf's)
    reference: dict[str, Any] = {}

    @field_validator("benchmark", mode="before")
    @classmethod
    def _name_only(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("budget")
    @classmethod
    def _durations(cls, budget: dict) -> dict:
        for key, value in budget.items():
            if key in ("wall", "job_seconds", "job"):
                parse_duration(value)
            elif key == "job_tokens":  # one job's horizon in training tokens (the starters' SYNTHTEAM_HORIZON)
                parse_count(value)
        return {k: str(v) for k, v in budget.items()}


def _task_file(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if text in BUILTIN_TASKS:
        return BUILTIN_DIR / text / "task.yaml"
    path = Path(text).expanduser()
    if path.is_dir():
        return path / "task.yaml"
    if path.exists() or text.endswith((".yaml", ".yml")) or "/" in text:
        return path
    raise ConfigError(f"{text}:1: unknown task {text!r} (built-in tasks: {', '.join(BUILTIN_TASKS)}; or a folder)")


def load_task(name_or_path: str | Path, *, provider: str | None = None) -> Task:
    """A built-in task by name, or a task folder / `task.yaml` path, or a PostTrainBench task folder.
    `provider` (hf | vllm) overrides the task's Inspect provider; `$SYNTHTEAM_PROVIDER` does when it is None."""
    path = _task_file(name_or_path)
    if not path.exists() and path.name == "task.yaml" and _is_ptb(path.parent):
        from tasks.ptb import load_ptb_task

        return _with_provider(load_ptb_task(path.parent), provider)
    data = load_yaml(path)
    spec = validate_model(TaskFile, data, path)
    knobs = {name: _knob(name, k) for name, k in (spec.knobs or _builtin_knobs(spec.kind)).items()}
    _check_knobs(knobs, data, path)
    bench = to_benchmark(spec.benchmark) if spec.benchmark.inspect else None
    if bench is None:
        _check_files(path.parent)
    else:
        _check_benchmark(bench, spec, data, path)
    _check_base_model(spec, data, path)
    reference = {**{n: k.default for n, k in knobs.items()}, **spec.reference}
    task = Task(
        name=spec.name, description=spec.description, root=path.parent.resolve(), base_model=spec.base_model,
        benchmark=spec.benchmark.name, budget=dict(spec.budget), device=spec.device,
        rules=tuple(spec.rules), knobs=knobs, kind=spec.kind, reference=reference,
        digest=_digest(path.parent, full=bench is not None), max_new_tokens=spec.max_new_tokens,
        splits=spec.splits.model_dump(), decoy=dict(spec.decoy), bench=bench,
        evaluation=spec.evaluation.model_dump(), chat_template=spec.chat_template, revision=spec.revision)
    return _with_provider(task, provider)


def _builtin_knobs(kind: str) -> dict[str, KnobSpec]:
    """The knobs a task of `kind` gets when its task.yaml declares none: those of the built-in task of that
    kind (the starter's constants, with ranges and help)."""
    data = load_yaml(BUILTIN_DIR / ("arith-hf" if kind == "hf" else "reverse") / "task.yaml")
    return {name: KnobSpec.model_validate(dict(row)) for name, row in data["knobs"].items()}


def _with_provider(task: Task, provider: str | None) -> Task:
    import os
    from dataclasses import replace

    provider = provider or os.environ.get("SYNTHTEAM_PROVIDER") or None
    if provider is None or task.evaluator == "home":
        return task
    if provider not in ("hf", "vllm"):
        raise ConfigError(f"--provider {provider!r}: expected hf or vllm")
    return replace(task, evaluation={**task.evaluation, "provider": provider})


def _is_ptb(folder: Path) -> bool:
    return (folder / "benchmark.txt").is_file() or (folder / "evaluate.py").is_file()


def _check_benchmark(bench: Benchmark, spec: TaskFile, data: Any, path: Path) -> None:
    """The benchmark can run: its files and fields, its scorer or task, the splits, the chat template."""
    root = path.parent
    problems = [f"{path}:{line_of(data, loc)}: {'.'.join(map(str, loc))}: {what}"
                for loc, what in benchmark_problems(bench, root)]
    if spec.kind != "hf":
        problems.append(f"{path}:{line_of(data, ('kind',))}: kind: an Inspect benchmark scores a Hugging Face "
                        "model: use kind: hf")
    if problems:
        raise ConfigError(problems)
    if bench.source == "dataset":
        from tasks.dataset import check_splits, read_items

        items = read_items(root / bench.dataset, bench.fields)
        wrong = check_splits(len(items), spec.splits.dev, spec.splits.test, bench.dataset)
        if wrong:
            raise ConfigError(f"{path}:{line_of(data, ('splits',))}: splits: {wrong}")
        if bench.train:
            read_items(root / bench.train["file"], bench.train["fields"])
    if spec.chat_template and spec.chat_template not in ("auto", "none"):
        from tasks.chat import check_template, template_for

        check_template(template_for(spec.chat_template, root, None))


def _check_base_model(spec: TaskFile, data: Any, path: Path) -> None:
    """An hf base model is a directory or a hub id in the local cache (built-in ones are built at prepare)."""
    if spec.base_model in BUILTIN_BASES[spec.kind]:
        return
    if spec.kind == "tiny":
        raise ConfigError(f"{path}:{line_of(data, ('base_model',))}: base_model: a tiny task's base model is "
                          f"tinylm-base")
    from tasks.hub import resolve_model

    try:
        resolve_model(spec.base_model, spec.revision, relative_to=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}:{line_of(data, ('base_model',))}: {exc}") from None


def _knob(name: str, spec: KnobSpec) -> Knob:
    when = tuple((k, tuple(v) if isinstance(v, list | tuple) else (v,)) for k, v in (spec.when or {}).items())
    return Knob(name, spec.kind, spec.low, spec.high, spec.log, tuple(spec.choices or ()), spec.default, spec.help,
                when)


def _check_knobs(knobs: dict[str, Knob], data: Any, path: Path) -> None:
    problems = []
    for name, knob in knobs.items():
        try:
            knob.validate(knob.default)
        except ValueError as exc:
            problems.append(f"{path}:{line_of(data, ('knobs', name, 'default'))}: knobs.{name}.default: {exc}")
        problems += _when_problems(knob, knobs, data, path)
    for name, value in (data.get("reference") or {}).items():
        where = f"{path}:{line_of(data, ('reference', name))}: reference.{name}"
        try:
            knobs[name].validate(value) if name in knobs else problems.append(f"{where}: not a knob of this task")
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise ConfigError(problems)


def _when_problems(knob: Knob, knobs: Mapping[str, Knob], data: Any, path: Path) -> list[str]:
    """What is wrong with `knob`'s `when:`: it names knobs of this task (not itself, none with a `when:` of its
    own) and values those knobs can take."""
    problems = []
    for other, values in knob.when:
        where = f"{path}:{line_of(data, ('knobs', knob.name, 'when', other))}: knobs.{knob.name}.when.{other}"
        if other == knob.name or other not in knobs:
            problems.append(f"{where}: {'a knob cannot depend on itself' if other == knob.name else 'not a knob of this task'}")
        elif knobs[other].when:
            problems.append(f"{where}: {other} has a when: of its own (conditions do not chain)")
        else:
            for value in values:
                try:
                    knobs[other].validate(value)
                except ValueError as exc:
                    problems.append(f"{where}: {str(exc).removeprefix(f'{other}: ')}")
    return problems


def _check_files(root: Path) -> None:
    missing = [f"{root / name}:1: missing (every task folder needs it)" for name in REQUIRED_FILES if not (root / name).is_file()]
    if missing:
        raise ConfigError(missing)


def _digest(root: Path, full: bool = False) -> str:
    """sha256 of what defines the task: task.yaml, evaluate.py and data.py, or (`full`, an Inspect benchmark
    whose files are listed in task.yaml) every file of the folder."""
    h = hashlib.sha256()
    if not full:
        for name in ("task.yaml", "evaluate.py", "data.py"):
            h.update((root / name).read_bytes())
        return h.hexdigest()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def list_tasks() -> list[Task]:
    """The built-in tasks; the first is the default."""
    return [load_task(name) for name in BUILTIN_TASKS]
