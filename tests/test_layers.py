"""The house stands: imports point only down team -> roles -> tasks -> sandbox -> groundwork (what every layer
stands on: the errors, units and YAML reading, owned by none of them), and inside team/ the arrows go cli ->
studies -> engine -> config, models (views read runs; nothing below imports views or cli). Every module
stays under 400 lines and every function under 50."""

import ast
import subprocess
import sys
from pathlib import Path

from tasks.solutions import parse_python

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT.parent / "shared" / "tools" / "check_layers.py"
ORDER = ["team", "roles", "tasks", "sandbox", "groundwork"]
# inside team/: what each subpackage must never import
TEAM_NEVER = {
    "config": {"engine", "studies", "views", "cli", "models"},
    "models": {"engine", "studies", "views", "cli", "config"},
    "engine": {"studies", "views", "cli"},
    "studies": {"cli"},
    "views": {"studies", "cli"},
}
# inside team/engine/: its rooms, and what each must never import (arrows point down run -> acts -> flow ->
# agents, work -> records; agents and work never import each other)
ENGINE_NEVER = {
    "run": set(),
    "acts": {"run"},
    "flow": {"run", "acts"},
    "agents": {"run", "acts", "flow", "work"},
    "work": {"run", "acts", "flow", "agents"},
    "records": {"run", "acts", "flow", "agents", "work"},
}


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def _modules():
    for top in ORDER:
        for path in sorted((ROOT / top).rglob("*.py")):
            yield top, path, parse_python(path.read_text(encoding="utf-8"))  # ast.parse, retried on 3.11.7's race


def test_imports_point_down():
    bad = []
    for top, path, tree in _modules():
        allowed = set(ORDER[ORDER.index(top):])
        bad += [f"{path.relative_to(ROOT)} imports {n}" for n in _imports(tree)
                if n.split(".")[0] in ORDER and n.split(".")[0] not in allowed]
    assert bad == []


def test_groundwork_imports_no_layer_and_the_old_homes_re_export_it():
    """groundwork is under every layer: it imports none of them, and the modules that held its parts before
    (sandbox.errors, sandbox.units, tasks.yamlio) hand out the same objects."""
    import groundwork.errors
    import groundwork.units
    import groundwork.yamlio
    import sandbox.errors
    import sandbox.units
    import tasks.yamlio

    for name in groundwork.errors.__all__:
        assert getattr(sandbox.errors, name) is getattr(groundwork.errors, name), name
    for name in groundwork.units.__all__:
        assert getattr(sandbox.units, name) is getattr(groundwork.units, name), name
    for name in groundwork.yamlio.__all__:
        assert getattr(tasks.yamlio, name) is getattr(groundwork.yamlio, name), name
    used = {n.split(".")[0] for path in sorted((ROOT / "groundwork").rglob("*.py"))
            for n in _imports(parse_python(path.read_text(encoding="utf-8")))}
    assert used & set(ORDER) <= {"groundwork"}, used


def test_team_subpackages_point_one_way():
    bad = []
    for top, path, tree in _modules():
        parts = path.relative_to(ROOT).parts
        if top != "team" or len(parts) < 3 or parts[1] not in TEAM_NEVER:
            continue
        used = {n.split(".")[1] for n in _imports(tree) if n.startswith("team.") and len(n.split(".")) > 1}
        bad += [f"{path.relative_to(ROOT)} imports team.{sub}" for sub in sorted(used & TEAM_NEVER[parts[1]])]
    assert bad == []


def test_engine_rooms_point_one_way():
    bad = []
    for _, path, tree in _modules():
        parts = path.relative_to(ROOT).parts
        if parts[:2] != ("team", "engine") or len(parts) < 4:
            continue
        used = {n.split(".")[2] for n in _imports(tree) if n.startswith("team.engine.") and len(n.split(".")) > 2}
        bad += [f"{path.relative_to(ROOT)} imports team.engine.{room}" for room in sorted(used & ENGINE_NEVER[parts[2]])]
    assert bad == []


def test_the_engine_is_rooms_each_saying_its_one_job():
    engine = ROOT / "team" / "engine"
    assert sorted(p.name for p in engine.glob("*.py")) == ["__init__.py"], "a module outside the engine's rooms"
    rooms = sorted(p.name for p in engine.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert rooms == sorted(ENGINE_NEVER)
    overview = ast.get_docstring(parse_python((engine / "__init__.py").read_text()))
    for room in rooms:
        doc = ast.get_docstring(parse_python((engine / room / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 10, room
        assert f"{room}/" in overview, f"team/engine/__init__.py does not describe {room}/"


def test_each_subpackage_says_its_one_job():
    for sub in ("config", "engine", "models", "studies", "views", "cli"):
        doc = ast.get_docstring(parse_python((ROOT / "team" / sub / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 10, sub


def test_modules_and_functions_stay_small():
    long = []
    for _, path, tree in _modules():
        if len(path.read_text(encoding="utf-8").splitlines()) > 400:
            long.append(f"{path.relative_to(ROOT)}: module over 400 lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 50:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: over 50 lines")
    assert long == []


def test_shared_checker_agrees():
    assert CHECKER.exists(), f"the shared layer checker is missing at {CHECKER}: the layer rule cannot be checked"
    out = subprocess.run([sys.executable, str(CHECKER), str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    assert "layer:" not in out.stdout and "long " not in out.stdout, out.stdout
