"""Mutated and random YAML never lets a traceback escape: every failure is a ConfigError."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.errors import ConfigError
from team.config.topology import load_team
from tests.test_topology import GOOD

settings.register_profile("synthteam", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("synthteam")


def _check(tmp_path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    try:
        team = load_team(path)
    except ConfigError as exc:
        assert exc.problems and all(p.startswith(f"{path}:") for p in exc.problems)
    else:
        assert team.agents


@settings(max_examples=150)
@given(st.data())
def test_mutated_team_files(tmp_path, data):
    text = bytearray(GOOD.encode())
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        i = data.draw(st.integers(0, len(text) - 1)) if text else 0
        ch = data.draw(st.sampled_from(list(b":{}[]-,#'\"\n\t 0aZ&*!|>%@`\xff")))
        if op == "delete" and text:
            del text[i]
        elif op == "insert":
            text.insert(i, ch)
        elif text:
            text[i] = ch
    _check(tmp_path, bytes(text))


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=True),
                         st.text(string.printable, max_size=12))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(string.ascii_letters + "_", max_size=10), inner, max_size=4)),
    max_leaves=20)
keys = st.sampled_from(["name", "agents", "edges", "roles", "merge", "stop", "budget", "defaults", "entry", "x"])


@settings(max_examples=150)
@given(st.dictionaries(keys, yaml_values, max_size=8))
def test_random_structures(tmp_path, doc):
    import json

    _check(tmp_path, json.dumps(doc, default=str).encode())  # JSON is YAML


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_random_bytes(tmp_path, blob):
    _check(tmp_path, blob)
