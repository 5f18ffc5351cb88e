"""Who was in control, from a run's model_call rows (team/engine/run/control.py): counts per role across
sessions (a resumed session's replays count once), the closing sentence, and the backend labels."""

from __future__ import annotations

from team.engine.run.control import backend_labels, control_line, decisions


def _call(call, role, source, llm="openai/x", **kw):
    backend = {"fallback": None}.get(source, "scripted" if llm == "scripted" else "litellm")
    return {"event": "model_call", "call": call, "role": role, "source": source, "llm": llm, "backend": backend, **kw}


ROWS = [
    _call("d/r1/plan", "director", "model"),
    _call("e/r1/a", "engineer", "repaired", repairs=2),
    _call("e/r1/b", "engineer", "fallback", reason="the reply broke its schema after 2 repair turns", repairs=2),
    {"event": "session_start"},
    _call("d/r1/plan", "director", "memo"),  # the resumed session replays round 1: no new decision
    _call("d/r2/plan", "director", "model"),
    _call("s/r1/t1", "sampler", "model", llm="sampler"),
]


def test_decisions_per_role_count_each_call_once_across_sessions():
    got = decisions(ROWS)
    assert got["director"] == {"model": 2, "repaired": 0, "fallback": 0, "scripted": 0, "repair_turns": 0, "why": {}}
    assert got["engineer"]["repaired"] == 1 and got["engineer"]["fallback"] == 1
    assert got["engineer"]["repair_turns"] == 4
    assert got["engineer"]["why"] == {"the reply broke its schema after 2 repair turns": 1}
    assert got["sampler"]["scripted"] == 1


def test_the_closing_sentence_says_how_many_decisions_the_llm_made():
    line = control_line(decisions(ROWS))
    assert line == ("decisions: the LLM made 3 of 4 decisions (1 of them after repair turns); 1 fell back to the "
                    "scripted policy (1× the reply broke its schema after 2 repair turns); 1 more by scripted agents")


def test_a_run_where_most_or_all_decisions_fell_back_says_so():
    most = [_call(f"c{i}", "critic", "fallback", reason="the model failed 3 times: timed out") for i in range(3)]
    assert control_line(decisions(most + [_call("d", "director", "model")])).startswith(
        "warning: most decisions were scripted — the LLM made 1 of 4 decisions")
    assert control_line(decisions(most)).startswith("warning: every decision was scripted — the LLM made none of 3")
    assert control_line(decisions([_call("d", "director", "model", llm="scripted")])) == \
        "decisions: all 1 by the scripted policies (no LLM in this team)"


def test_backend_labels_carry_the_share_of_scripted_fallback():
    by_llm = decisions(ROWS, key="llm")
    assert backend_labels(["litellm:openai/x", "sampler"], by_llm) == [
        "litellm:openai/x (25% scripted fallback)", "sampler"]
