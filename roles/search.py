"""The task's knob space as the scripted policies search it: typed clipping, canonical configs (to
never repeat one), space-filling samples, and small moves around a good config.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from roles.context import Experiment, Knob, TaskCard
from roles.schemas import Proposal
from tasks import inert_knobs

SEED_KNOBS = frozenset({"seed"})  # noise, not a research direction: never searched or compared
MULTIPLICATIVE = frozenset({"lr", "steps", "batch_size", "lora_rank", "n_train"})
_ENUMERATE_LIMIT, _TOP_K = 5000, 3  # _TOP_K: exploit around this many of the best accepted configs
_TRIES = 60  # random draws before falling back to enumerating a small space
Config = dict[str, Any]


def searchable(knobs: Iterable[Knob], config: Mapping[str, Any] | None = None) -> list[Knob]:
    """The knobs a search may move: not the seed, and with a range or choices to move in; with `config`, not
    those its `when:` conditions leave inert (lora_rank while method is full)."""
    knobs = list(knobs)
    inert = inert_knobs(config, {k.name: k for k in knobs}) if config is not None else set()
    return [k for k in knobs if k.name not in SEED_KNOBS and k.name not in inert and _has_range(k)]


def _has_range(knob: Knob) -> bool:
    if knob.kind in ("bool", "choice"):
        return knob.kind == "bool" or len(knob.choices) > 1
    return knob.low is not None and knob.high is not None and knob.high > knob.low


def clip(knob: Knob, value: Any) -> Any:
    """`value` as a legal value of `knob`: the right type, inside the range, one of the choices."""
    if knob.kind == "bool":
        return value.lower() in ("1", "true", "yes") if isinstance(value, str) else bool(value)
    if knob.kind == "choice":
        return _nearest_choice(knob, value)
    try:
        number = float(value)
    except (TypeError, ValueError):  # e.g. an LLM wrote "fast" for a number: use the task's default
        fallback = knob.default if knob.default is not None and knob.default is not value else knob.low
        return clip(knob, fallback if fallback is not None else 0.0)
    if not math.isfinite(number):
        number = float(knob.low) if knob.low is not None else 0.0
    if knob.low is not None:
        number = max(number, float(knob.low))
    if knob.high is not None:
        number = min(number, float(knob.high))
    return _to_int(knob, number) if knob.kind == "int" else number


def _to_int(knob: Knob, number: float) -> int:
    value = int(round(number))
    if knob.low is not None and value < knob.low:
        value = math.ceil(knob.low)
    if knob.high is not None and value > knob.high:
        value = math.floor(knob.high)
    return value


def _nearest_choice(knob: Knob, value: Any) -> Any:
    if value in knob.choices or not knob.choices:
        return value
    numeric = [c for c in knob.choices if isinstance(c, int | float) and not isinstance(c, bool)]
    if numeric and isinstance(value, int | float):
        return min(numeric, key=lambda c: abs(c - value))
    return default_value(knob)


def default_value(knob: Knob) -> Any:
    """The task's default for a knob, or a neutral value inside its range when it has none."""
    if knob.default is not None:
        if knob.kind != "choice":
            return clip(knob, knob.default)
        return knob.default if knob.default in knob.choices or not knob.choices else knob.choices[0]
    if knob.kind == "choice":
        return knob.choices[0] if knob.choices else None
    if knob.kind == "bool":
        return False
    if knob.low is None or knob.high is None:
        return knob.low if knob.low is not None else knob.high
    return from_unit(knob, 0.5)


def complete(config: Mapping[str, Any], knobs: Sequence[Knob]) -> Config:
    """A full, legal config: every knob present (defaults fill gaps), every value clipped and typed, and every
    knob that its `when:` leaves inert at its default."""
    out: Config = {}
    for knob in knobs:
        value = config.get(knob.name)
        value = default_value(knob) if value is None else clip(knob, value)
        if value is not None:
            out[knob.name] = value
    by_name = {k.name: k for k in knobs}
    for name in inert_knobs(out, by_name):  # a knob that does nothing here takes its default: one key per experiment
        out[name] = default_value(by_name[name])
    return out


def canonical(config: Mapping[str, Any], knobs: Sequence[Knob]) -> tuple[tuple[str, str], ...]:
    """A hashable key that is equal for configs that run the same experiment (seed aside)."""
    full = complete(config, knobs)
    named = {k.name for k in knobs}
    extra = {k: v for k, v in config.items() if k not in named}
    items = {**full, **extra}
    return tuple(sorted((k, _norm(v)) for k, v in items.items() if k not in SEED_KNOBS))


def _norm(value: Any) -> str:
    if isinstance(value, float):
        return repr(float(f"{value:.6g}"))
    return repr(value)


def tidy(knob: Knob, value: Any) -> Any:
    """Round floats to 3 significant digits (readable proposals), then clip back into range."""
    if knob.kind == "float" and isinstance(value, float) and value != 0.0:
        value = float(f"{value:.3g}")
    return clip(knob, value)


def from_unit(knob: Knob, u: float) -> Any:
    """Map u in [0, 1) onto the knob's range (log scale for log knobs)."""
    if knob.kind == "choice":
        return knob.choices[min(int(u * len(knob.choices)), len(knob.choices) - 1)]
    if knob.kind == "bool":
        return u >= 0.5
    low, high = float(knob.low), float(knob.high)
    if knob.log and low > 0:
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    elif knob.kind == "int":
        value = low + u * (high - low + 1) - 0.5
    else:
        value = low + u * (high - low)
    return tidy(knob, value)


def latin_samples(knobs: Sequence[Knob], n: int, rng: random.Random, base: Config) -> list[Config]:
    """n space-filling configs: each searchable knob's range cut in n strata, each stratum used once."""
    moving = searchable(knobs)
    strata = {k.name: rng.sample(range(n), n) for k in moving}
    samples = []
    for i in range(n):
        config = dict(base)
        for knob in moving:
            config[knob.name] = from_unit(knob, (strata[knob.name][i] + rng.random()) / n)
        samples.append(config)
    return samples


def enumerate_space(knobs: Sequence[Knob], base: Config) -> list[Config] | None:
    """Every config of a small, fully discrete space (None when it is continuous or too large)."""
    values = []
    for knob in searchable(knobs):
        options = _discrete_values(knob)
        if options is None:
            return None
        values.append((knob.name, options))
    if math.prod(len(v) for _, v in values) > _ENUMERATE_LIMIT:
        return None
    names = [n for n, _ in values]
    return [{**base, **dict(zip(names, combo, strict=True))} for combo in itertools.product(*(v for _, v in values))]


def _discrete_values(knob: Knob) -> list[Any] | None:
    if knob.kind == "choice":
        return list(knob.choices)
    if knob.kind == "bool":
        return [False, True]
    if knob.kind == "int" and knob.high - knob.low < _ENUMERATE_LIMIT:
        return list(range(math.ceil(knob.low), math.floor(knob.high) + 1))
    return None


def perturb(parent: Config, knobs: Sequence[Knob], rng: random.Random,
            tried: Sequence[Mapping[str, str]], n_moves: int) -> tuple[Config, list[tuple[str, Any, Any]]]:
    """Move `n_moves` knobs of `parent` one step, preferring directions untried from it (`tried`: all keys)."""
    moving = searchable(knobs, parent)
    weights = [3.0 if k.name == "lr" else 2.0 if k.name == "steps" else 1.0 for k in moving]
    chosen: list[Knob] = []
    while moving and len(chosen) < min(n_moves, len(moving)):
        knob = rng.choices(moving, weights)[0]
        if knob not in chosen:
            chosen.append(knob)
    here = dict(canonical(parent, knobs))
    child, changes = dict(parent), []
    for knob in chosen:
        old = child.get(knob.name, default_value(knob))
        new = move(knob, old, rng, _tried_directions(here, knob, tried))
        if new != old:
            child[knob.name] = new
            changes.append((knob.name, old, new))
    return child, changes


def describe_moves(changes: Sequence[tuple[str, Any, Any]]) -> str:
    """'lr 0.003→0.006 tests whether a higher lr ...' for a proposal's rationale."""
    moves = ", ".join(f"{name} {_show(old)}→{_show(new)}" for name, old, new in changes)
    tests = " and ".join(_direction(name, old, new) for name, old, new in changes)
    return f"{moves} tests whether {tests} beats it"


def _direction(name: str, old: Any, new: Any) -> str:
    if isinstance(new, bool) or not isinstance(new, int | float):
        return f"{name}={new}"
    if name in ("steps", "n_train"):
        return f"{'more' if new > old else 'fewer'} {name}"
    return f"{'a higher' if new > old else 'a lower'} {name}"


def _tried_directions(here: Mapping[str, str], knob: Knob, tried: Sequence[Mapping[str, str]]) -> set[int]:
    """Which sides (+1 up, -1 down) of `here` along this knob some run already went to."""
    name = knob.name
    if knob.kind not in ("int", "float") or name not in here:
        return set()
    signs = set()
    for key in tried:
        if name in key and key[name] != here[name] and all(v == key.get(k) for k, v in here.items() if k != name):
            signs.add(1 if float(key[name]) > float(here[name]) else -1)
    return signs


def move(knob: Knob, value: Any, rng: random.Random, tried: set[int]) -> Any:
    """One step of a knob: another choice, a flip, or up/down (x/÷ 2 for scale knobs)."""
    if knob.kind == "choice":
        return rng.choice([c for c in knob.choices if c != value] or list(knob.choices))
    if knob.kind == "bool":
        return not value
    untried = [s for s in (1, -1) if s not in tried] or [1, -1]
    up_bias = 2.0 if knob.name == "steps" else 1.0  # longer training is the usual next bet
    sign = rng.choices(untried, [up_bias if s > 0 else 1.0 for s in untried])[0]
    fine = len(tried) == 2  # both sides tried already: take a smaller step
    new = _step(knob, float(value), sign, fine)
    if new == value:
        new = _step(knob, float(value), -sign, fine)
    return new


def _step(knob: Knob, value: float, sign: int, fine: bool) -> Any:
    if (knob.log or knob.name in MULTIPLICATIVE) and value > 0:
        factor = (1.25 if fine else 1.5) if knob.name == "steps" else (1.41 if fine else 2.0)
        return tidy(knob, value * factor ** sign)
    span = float(knob.high) - float(knob.low)
    delta = span * (0.1 if fine else 0.2)
    if knob.kind == "int":
        delta = max(1.0, round(delta))
    return tidy(knob, value + sign * delta)


def _show(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------- proposals of a round
class Picker:
    """Collects distinct, legal, never-tried configs (seed knobs left to the engineer)."""

    def __init__(self, knobs: Sequence[Knob], tried: Sequence[Mapping[str, Any]]):
        self.knobs = tuple(knobs)
        self.keys = [dict(canonical(c, self.knobs)) for c in tried]
        self.seen = {tuple(sorted(k.items())) for k in self.keys}

    def take(self, config: Mapping[str, Any]) -> Config | None:
        full = {k: v for k, v in complete(config, self.knobs).items() if k not in SEED_KNOBS}
        key = canonical(full, self.knobs)
        if key in self.seen:
            return None
        self.seen.add(key)
        self.keys.append(dict(key))
        return full

    def base(self) -> Config:
        return {k.name: default_value(k) for k in self.knobs if k.name not in SEED_KNOBS}


def anchors(task: TaskCard, picker: Picker) -> list[Proposal]:
    out = []
    if task.reference:
        config = picker.take(task.reference)
        if config is not None:
            what = "the task's reference recipe" if task.prior == "reference" else f"the {task.prior} prior's config"
            out.append(Proposal(config=config, rationale=f"Baseline: {what}, to anchor every later comparison."))
    config = picker.take(picker.base())
    if config is not None:
        out.append(Proposal(config=config, rationale="Baseline: the task's default knobs, to measure what "
                                                     "tuning adds."))
    return out


def explore(task: TaskCard, count: int, rng: random.Random, picker: Picker, broad: bool = False) -> list[Proposal]:
    base, out = picker.base(), []
    if count <= 0:
        return out
    for candidate in _explore_candidates(task, count, rng, base, broad):
        config = picker.take(candidate)
        if config is not None:
            out.append(Proposal(config=config, rationale=_explore_why(config, base)))
            if len(out) == count:
                break
    return out


def _explore_candidates(task: TaskCard, count: int, rng: random.Random, base: Config, broad: bool) -> Iterator[Config]:
    """Far moves of a few knobs from the anchor (the reference, else the defaults) first, then a Latin
    hypercube over the whole space, then random samples, then (small discrete spaces) every config. A broad
    explorer takes the Latin hypercube first."""
    anchor = complete({**base, **dict(task.reference)}, task.knobs) if task.reference else base
    yield from latin_samples(task.knobs, count, rng, base) if broad else ()
    for _ in range(_TRIES):
        yield local_jump(task.knobs, rng, anchor)
    yield from latin_samples(task.knobs, count, rng, base)
    for _ in range(_TRIES):
        yield latin_samples(task.knobs, 1, rng, base)[0]
    remaining = enumerate_space(task.knobs, base) or []
    rng.shuffle(remaining)
    yield from remaining


def local_jump(knobs: Sequence[Knob], rng: random.Random, anchor: Config) -> Config:
    """Move 1-3 knobs of `anchor` far (log knobs up to 6x either way, others up to a third of their range)."""
    moving = searchable(knobs, anchor)
    config = dict(anchor)
    for knob in rng.sample(moving, min(len(moving), 1 + (rng.random() < 0.5) + (rng.random() < 0.25))):
        config[knob.name] = _jump(knob, config.get(knob.name, default_value(knob)), rng)
    return config


def _jump(knob: Knob, value: Any, rng: random.Random) -> Any:
    if knob.kind == "choice":
        others = [c for c in knob.choices if c != value]
        return rng.choice(others) if others else value
    if knob.kind == "bool":
        return not value
    low, high = float(knob.low), float(knob.high)
    if knob.log and low > 0 and float(value) > 0:
        return clip(knob, float(value) * math.exp(rng.uniform(-1.8, 1.8)))
    return clip(knob, float(value) + rng.uniform(-1, 1) * (high - low) / 3)


def _explore_why(config: Config, base: Config) -> str:
    moved = [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items() if v != base.get(k)]
    return f"Explore: {', '.join(moved[:4]) or 'defaults'} — a far move that maps an untested region of the " \
           "knob space."


def ranked_configs(history: Sequence[Experiment], knobs: Sequence[Knob]) -> list[tuple[Config, float, str]]:
    """Accepted configs, seeds pooled: (config, mean dev, best job id), best first."""
    groups: dict[Any, list[Experiment]] = {}
    for e in history:
        if e.verdict == "accept" and e.dev_accuracy is not None and e.status == "ok":
            groups.setdefault(canonical(e.config, knobs), []).append(e)
    ranked = []
    for runs in groups.values():
        mean = sum(e.dev_accuracy for e in runs) / len(runs)
        top = max(runs, key=lambda e: (e.dev_accuracy, -e.round, -e.seed))  # ties: the earliest, not an id
        ranked.append((dict(top.config), mean, top.job_id))
    return sorted(ranked, key=lambda r: (-r[1], json.dumps(r[0], sort_keys=True, default=str)))


def exploit(task: TaskCard, parents: list[tuple[Config, float, str]], count: int, rng: random.Random,
             picker: Picker) -> list[Proposal]:
    top = parents[:_TOP_K]
    weights = [(len(top) - i) ** 2 for i in range(len(top))]
    out: list[Proposal] = []
    for _ in range(count):
        for attempt in range(_TRIES):
            # the first move of a round always goes to the best config, the others mostly do
            parent, dev, job = top[0] if not out and attempt == 0 else rng.choices(top, weights)[0]
            n_moves = 1 + (rng.random() < 0.3) + (attempt > _TRIES // 2)
            child, changes = perturb(complete(parent, task.knobs), task.knobs, rng, picker.keys, n_moves)
            config = picker.take(child) if changes else None
            if config is not None:
                why = f"Exploit around {job} (dev {dev:.3f}): {describe_moves(changes)}."
                out.append(Proposal(config=config, rationale=why))
                break
    return out


def explore_count(n: int, plateau: int, rng: random.Random) -> int:
    """A little exploration, more when the search is stuck (stochastic rounding, seeded)."""
    share = min(0.2 + 0.15 * max(plateau, 0), 0.6)
    return min(n, math.floor(n * share + rng.random()))
