"""Message kinds are declared once (roles/flow.py): the payload class, who takes it, who sends it after what
to whom. Validation, routing, the message rows and the engine's handler table follow the declarations;
team/GRAPH.md lists them."""

from __future__ import annotations

import re
from pathlib import Path

from roles.flow import KINDS, handles

ROOT = Path(__file__).resolve().parents[1]
ROLE_KINDS = ("director", "engineer", "critic", "editor", "solo", "sampler")


def test_each_kind_is_its_payload_class_and_says_what_its_row_carries():
    assert list(KINDS) == ["start", "plan", "proposal", "result", "verdict", "merge", "log"]
    for name, k in KINDS.items():
        assert k.payload.KIND == name
        assert callable(getattr(k.payload, "summary", None)), name
        assert k.taken_by <= set(ROLE_KINDS), name


def test_the_engine_handles_exactly_what_the_declarations_say_each_role_takes():
    from team.engine.acts import ACTS

    declared = {(role, kind) for role in ROLE_KINDS for kind in handles(role) if kind != "start"}
    assert {key for key in ACTS if isinstance(key, tuple)} == declared
    assert {role for role in ROLE_KINDS if "start" in handles(role)} == {"director", "engineer", "solo", "sampler"}


def test_graph_md_lists_every_declared_kind_and_who_takes_it():
    text = (ROOT / "team" / "GRAPH.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$", text, flags=re.M))
    assert set(rows) == set(KINDS) - {"start"}
    plural = {"director": "directors", "engineer": "engineers", "critic": "critics", "editor": "editors",
              "solo": "solo agents", "sampler": "samplers"}
    for name, taken in rows.items():
        assert {role for role, word in plural.items() if word in taken} == set(KINDS[name].taken_by), name
