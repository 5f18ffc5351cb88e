"""Event rows are declared once (team/engine/records/catalog.py): every module emits and reads declared events
with their declared fields, the durable set is the catalog's, and the rows of a real run match it."""

from __future__ import annotations

import ast
from pathlib import Path

from tasks.solutions import parse_python
from team.engine.records import catalog
from team.engine.records.catalog import CATALOG, problems
from team.engine.records.events import EventLog

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("team", "benchmarks")


def _event_name(node: ast.AST, constants: dict[str, list[str]]) -> list[str] | None:
    """The event names an expression stands for: a string, `ev.NAME` (the catalog's constant), a collection
    of those, or a module-level name bound to one; None when it is something else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ev":
        value = getattr(catalog, node.attr, None)
        return [value if isinstance(value, str) else f"<no catalog constant {node.attr}>"]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        names = [_event_name(e, constants) for e in node.elts]
        return None if any(n is None for n in names) else [x for n in names for x in n]
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    return None


def _is_event_field(node: ast.AST) -> bool:
    """`row.get("event")`, `row["event"]`, or a variable named `event`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "event"
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "event"
    return isinstance(node, ast.Name) and node.id == "event"


def catalog_problems(source: str, where: str = "<source>") -> list[str]:
    """Emits of undeclared events (or without declared fields, or with undeclared ones) and reads of
    undeclared events in one module's source."""
    tree = parse_python(source)
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names = _event_name(node.value, {})
            if names is not None and isinstance(node.value, ast.Tuple | ast.List | ast.Set):
                constants[node.targets[0].id] = names
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit" and node.args:
            names = _event_name(node.args[0], constants)
            if names is None:
                out.append(f"{where}:{node.lineno}: emits an event the scan cannot name (use a catalog constant)")
                continue
            for name in names:
                spec = CATALOG.get(name)
                if spec is None:
                    out.append(f"{where}:{node.lineno}: emits undeclared event {name!r}")
                    continue
                given = {k.arg for k in node.keywords if k.arg is not None}
                spread = any(k.arg is None for k in node.keywords)
                out += [f"{where}:{node.lineno}: {name} row without declared field {f!r}"
                        for f in sorted(spec.fields - given) if not spread]
                out += [f"{where}:{node.lineno}: {name} row with undeclared field {f!r}"
                        for f in sorted(given - spec.fields - spec.optional)]
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_event_field(o) for o in operands):
                for o in operands:
                    for name in (_event_name(o, constants) or []) if not _is_event_field(o) else []:
                        if name not in CATALOG:
                            out.append(f"{where}:{node.lineno}: reads undeclared event {name!r}")
    return out


def test_every_module_emits_and_reads_declared_events_with_their_fields():
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            found += catalog_problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


def test_the_scan_finds_an_undeclared_event_and_a_missing_field():
    source = '''
NOTABLE = {"job_started", "job_finshed"}
log.emit("nonsense", x=1)
log.emit(ev.UNREVISED, agent="a", parent=None, round=1, job_id="j")
if row.get("event") == "merge_scored" or event in NOTABLE:
    pass
'''
    assert catalog_problems(source) == [
        "<source>:3: emits undeclared event 'nonsense'",
        "<source>:4: unrevised row without declared field 'reason'",
        "<source>:5: reads undeclared event 'merge_scored'",
        "<source>:5: reads undeclared event 'job_finshed'",
    ]


def test_durable_rows_are_the_catalogs():
    assert EventLog.DURABLE == {name for name, e in CATALOG.items() if e.durable}
    assert EventLog.DURABLE == {"job_finished", "merge", "verdict", "result", "session_end"}


def test_a_row_is_checked_against_its_declaration():
    assert problems({"event": "job_raised", "ts": 1.0, "run": "r", "key": "k", "asked": 1, "to": 9, "reason": "x"}) == []
    assert problems({"event": "job_raised", "key": "k", "asked": 1, "to": 9, "why": "x"}) == [
        "job_raised: missing field 'reason'", "job_raised: undeclared field 'why'"]
    assert problems({"event": "job_raisd"}) == ["undeclared event 'job_raisd'"]


def test_every_row_of_a_run_is_declared_with_its_fields(tmp_path):
    from tests.engine_rig import rows_of, run_scripted

    team = """name: signed
description: a director, two engineers, a critic panel, an editor whose merges a critic signs off
agents:
  director: {role: director}
  engineer: {role: engineer, replicas: 2}
  panel: {role: critic, replicas: 2}
  editor: {role: editor, settings: {policy: greedy_soup}}
  auditor: {role: critic}
edges:
  - {from: director, to: engineer}
  - {from: engineer, to: panel, broadcast: true}
  - {from: panel, to: engineer, when: revise, max_loops: 1}
  - {from: panel, to: editor, when: accept}
  - {from: editor, to: auditor}
  - {from: auditor, to: editor, when: revise, max_loops: 1}
  - {from: editor, to: director, max_loops: 2}
stop: {rounds: 2}
"""
    run, _ = run_scripted(tmp_path, team, budget="wall=60s,job_seconds=400s")
    rows = rows_of(run)
    seen = {r["event"] for r in rows}
    assert {"message", "model_call", "job_started", "job_finished", "verdict", "merge", "node", "node_scored",
            "budget", "team_start", "team_end", "result", "session_end"} <= seen
    assert [p for r in rows for p in problems(r)] == []
