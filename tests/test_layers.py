"""Imports point only down team -> roles -> tasks -> sandbox (the project's layer rule)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT.parent / "shared" / "tools" / "check_layers.py"


def _upward_imports() -> list[str]:
    import ast

    order = ["team", "roles", "tasks", "sandbox"]
    bad = []
    for top in order:
        allowed = set(order[order.index(top):])
        for path in sorted((ROOT / top).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    head = name.split(".")[0]
                    if head in order and head not in allowed:
                        bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_imports_point_down():
    assert _upward_imports() == []


def test_shared_checker_agrees_when_present():
    if not CHECKER.exists():
        return
    out = subprocess.run([sys.executable, str(CHECKER), str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
