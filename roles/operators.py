"""Code operators: what the scripted engineer does to a solution. Each is a plain deterministic function
`(solution, rng) -> (new_solution, description)` that rewrites train.py, most of them its program, not
only its constants: a top-level function of the starter is located with `ast` and replaced whole.

An operator refuses (`OperatorError`, one line) when its target is missing or is no longer the
starter's own version (edited by hand, or already changed by this or another operator), so operators
that touch different functions compose and ones that touch the same function do not.

    OPERATORS[name].apply(solution, rng)      or      apply_operator(name, solution, rng)
"""

from __future__ import annotations

import ast
import random
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from roles.operator_code import CODE, NEW_CONSTANTS
from tasks.solutions import ENTRY, STARTERS_DIR, Solution, constants, parse_python, set_constants

__all__ = ["Operator", "OperatorError", "OPERATORS", "apply_operator", "operator_names", "applied_operators"]

MARK = "[operator: "


class OperatorError(ValueError):
    """An operator cannot apply to this solution (target missing, edited, or already changed)."""


@dataclass(frozen=True)
class Operator:
    name: str
    summary: str  # one line, for prompts, reports and the LOG table
    kind: str  # "code": changes the program; "constants": only the constants at the top
    functions: tuple[str, ...]  # the top-level functions of train.py it replaces
    conflicts: tuple[str, ...] = ()  # operators whose change makes this one pointless
    apply_fn: Callable[[Solution, random.Random], tuple[Solution, str]] | None = None

    def apply(self, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
        return self.apply_fn(solution, rng) if self.apply_fn else _apply_code(self, solution, rng)


@cache
def _starter_functions() -> dict[str, set[str]]:
    """name -> the ast dumps of that function in every starter (what an operator may replace)."""
    found: dict[str, set[str]] = {}
    for path in STARTERS_DIR.glob(f"*/{ENTRY}"):
        for node in parse_python(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                found.setdefault(node.name, set()).add(ast.dump(node))
    return found


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def applied_operators(solution: Solution) -> list[str]:
    """The operators whose code is in train.py (by the marker in their docstrings)."""
    text = solution.files.get(ENTRY, "")
    return sorted({part.split("]", 1)[0] for part in text.split(MARK)[1:]})


def _check_target(op: Operator, node: ast.FunctionDef | None, name: str) -> None:
    if node is None:
        raise OperatorError(f"{op.name}: train.py has no top-level function {name}() to replace")
    if ast.dump(node) in _starter_functions().get(name, set()):
        return
    doc = ast.get_docstring(node) or ""
    if MARK in doc:
        other = doc.split(MARK, 1)[1].split("]", 1)[0]
        why = "already applied" if other == op.name else f"already changed by the {other} operator"
        raise OperatorError(f"{op.name}: {name}() was {why}")
    raise OperatorError(f"{op.name}: {name}() is not the starter's any more (edited): not replacing it")


def _parse(solution: Solution) -> tuple[list[str], ast.Module]:
    text = solution.files.get(ENTRY)
    if text is None:
        raise OperatorError(f"the solution has no {ENTRY}")
    try:
        return text.splitlines(keepends=True), parse_python(text)
    except SyntaxError as exc:
        raise OperatorError(f"{ENTRY}:{exc.lineno}: syntax error ({exc.msg}): fix it first") from None


def _insert_constants(lines: list[str], tree: ast.Module, op: Operator, values: Mapping[str, object]) -> list[str]:
    """New constants after the last constant before the first function."""
    if not values:
        return lines
    first_def = min((n.lineno for n in tree.body if isinstance(n, ast.FunctionDef)), default=len(lines) + 1)
    assigns = [n for n in tree.body if isinstance(n, ast.Assign) and n.end_lineno < first_def
               and all(isinstance(t, ast.Name) and t.id.isupper() for t in n.targets)]
    at = assigns[-1].end_lineno if assigns else 0
    new = [f"{k} = {v!r}  # {MARK}{op.name}]\n" for k, v in values.items()]
    return lines[:at] + new + lines[at:]


def _apply_code(op: Operator, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    lines, tree = _parse(solution)
    present = applied_operators(solution)
    clash = [c for c in op.conflicts if c in present]
    if clash:
        raise OperatorError(f"{op.name}: does not combine with {clash[0]}, which this solution already has")
    funcs = _functions(tree)
    for name in op.functions:
        _check_target(op, funcs.get(name), name)
    values = {k: rng.choice(choices) for k, choices in NEW_CONSTANTS.get(op.name, {}).items()}
    taken = [k for k in values if k in constants(solution)]
    if taken:
        raise OperatorError(f"{op.name}: train.py already has a constant {taken[0]}")
    for node in sorted((funcs[n] for n in op.functions), key=lambda n: -n.lineno):
        start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
        lines[start:node.end_lineno] = [textwrap.dedent(CODE[op.name][node.name]).strip("\n") + "\n"]
    lines = _insert_constants(lines, tree, op, values)
    text = "".join(lines)
    parse_python(text)  # an operator never leaves a syntax error behind
    settings = ", ".join(f"{k}={v!r}" for k, v in values.items())
    return Solution({**solution.files, ENTRY: text}), f"{op.name}: {op.summary}" + (f" ({settings})" if settings else "")


_TUNABLE = {"LR": (1e-5, 0.1, (0.5, 2.0, 3.0)), "BATCH_SIZE": (4, 512, (0.5, 2.0)),
            "WARMUP_FRAC": (0.0, 0.5, (0.0, 2.0)), "WEIGHT_DECAY": (0.0, 0.3, (0.0, 0.1))}


def _tune(solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    """Move one or two constants by a factor (constants only; the program stays as it is)."""
    have = constants(solution)
    names = [n for n in _TUNABLE if n in have]
    if not names:
        raise OperatorError(f"tune: train.py has none of the constants {', '.join(_TUNABLE)}")
    changes = {}
    for name in rng.sample(names, min(len(names), rng.choice((1, 2)))):
        low, high, factors = _TUNABLE[name]
        factor = rng.choice(factors)
        value = have[name] * factor if name not in ("WARMUP_FRAC", "WEIGHT_DECAY") or have[name] else factor / 20
        value = min(max(value, low), high)
        changes[name] = int(round(value)) if isinstance(have[name], int) else float(f"{value:.4g}")
    new = set_constants(solution, changes)
    if new == solution:
        raise OperatorError("tune: every constant it would move is at its bound already")
    return new, "tune: " + ", ".join(f"{k} {have[k]!r} -> {v!r}" for k, v in changes.items())


OPERATORS: dict[str, Operator] = {op.name: op for op in (
    Operator("curriculum", "easy (short) rows first: batches come from the shortest share of the data, "
             "growing to all rows by mid-run", "code", ("next_batch",)),
    Operator("length_buckets", "batches of rows of similar length: less padding, more answer tokens per second",
             "code", ("next_batch",)),
    Operator("answer_weighting", "each example's answer weighs the same in the loss, its first token more",
             "code", ("loss_fn",)),
    Operator("ema", "evaluate and keep an exponential moving average of the weights", "code",
             ("after_step", "candidate")),
    Operator("checkpoint_average", "evaluate and keep the running average of checkpoints from the run's tail",
             "code", ("after_step", "candidate")),
    Operator("holdout_best", "choose the best checkpoint on held-out training-pool items, not on dev", "code",
             ("selection_items",), conflicts=("more_data",)),
    Operator("more_data", "train on the whole training pool, so the run repeats examples less", "code",
             ("choose_items",), conflicts=("holdout_best",)),
    Operator("replay", "every few steps, a batch of pre-training text with its language-model loss", "code",
             ("extra_loss",)),
    Operator("warm_restarts", "cosine schedule with warm restarts, each peak lower than the last", "code",
             ("lr_at",)),
    Operator("wsd_schedule", "warmup-stable-decay: the peak learning rate held until late, then a linear decay",
             "code", ("lr_at",)),
    Operator("batch_ramp", "small batches first, growing to the full batch size by mid-run", "code",
             ("next_batch",)),
    Operator("tune", "move one or two constants (learning rate, batch size, warmup, weight decay)", "constants",
             (), apply_fn=_tune),
)}


def operator_names(kind: str | None = None) -> list[str]:
    return [n for n, op in OPERATORS.items() if kind is None or op.kind == kind]


def apply_operator(name: str, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    if name not in OPERATORS:
        raise OperatorError(f"unknown operator {name!r} (known: {', '.join(OPERATORS)})")
    return OPERATORS[name].apply(solution, rng)
