"""LLM-backed teams against realistic replies: each persona of tests/personas.py answers a real
OpenAI-protocol server on 127.0.0.1 while `pair` and `research` run through the real Session and runtime
(toy jobs: tests/engine_rig.py). Every run completes within budget, trains a model, and reports exactly the
model / repaired / fallback decisions the persona meant; the ledger charges what the server reported."""

from __future__ import annotations

import pytest

from tests.engine_rig import rows_of, run_scripted
from tests.openai_server import OpenAIServer
from tests.personas import PERSONAS, Persona

KINDS = ("model", "repaired", "fallback")
# what each persona must have caused at least once (else it did not test what it names)
MUST = {"valid": "model", "chatty": "model", "knobs": "repaired", "short": "repaired", "ghosts": "model",
        "alternating": "model", "prose": "fallback", "flaky": "model", "careless": "repaired"}


def _run(tmp_path, team, persona, **options):
    with OpenAIServer(handler=persona) as server:
        options = {"model": "openai/test-model", "api_base": server.url, **options}
        return run_scripted(tmp_path, team, **options)


def _counts(result) -> dict:
    return {role: {k: d[k] for k in KINDS if d[k]} for role, d in result["decisions"].items()}


def _meant(persona) -> dict:
    return {role: {k: c[k] for k in KINDS if c[k]} for role, c in persona.tally.items()}


@pytest.mark.parametrize("team", ["pair", "research"])
@pytest.mark.parametrize("name", PERSONAS)
def test_each_persona_completes_a_run_and_its_decisions_are_reported_as_sent(tmp_path, name, team):
    persona = Persona(name)
    out, result = _run(tmp_path, team, persona)
    used, limits = result["budget_used"], result["budget_limits"]
    assert all(used[k] <= limit + 1e-6 for k, limit in limits.items() if limit is not None and k != "wall")
    assert result["jobs"].get("ok", 0) >= 1 and result["final_members"] and (out / "final_model").is_dir()
    assert _counts(result) == _meant(persona)
    assert sum(c[MUST[name]] for c in persona.tally.values()) > 0
    asked = sum(sum(c.values()) for c in persona.tally.values())
    fell = sum(c["fallback"] for c in persona.tally.values())
    assert result["backend"] == [f"litellm:openai/test-model ({round(100 * fell / asked)}% scripted fallback)"]
    # every turn (repairs included) is one model call, charged the tokens the server reported, per role
    assert used["model_calls"] == persona.requests - persona.refused
    for role, t in persona.tokens.items():
        assert result["spend_by_role"][role]["tokens"] == t["prompt"] + t["completion"], role


def test_a_server_that_never_validates_says_every_decision_was_scripted(tmp_path):
    persona = Persona("prose")
    _, result = _run(tmp_path, "research", persona)
    assert result["control"].startswith("warning: every decision was scripted")
    total = sum(c["fallback"] for c in persona.tally.values())
    assert persona.requests == 3 * total  # one reply and two repair turns each, no new attempts
    assert result["faults"]["fallbacks"] == total


def test_a_careless_server_is_repaired_and_the_sentence_counts_the_llms_decisions(tmp_path):
    persona = Persona("careless")
    _, result = _run(tmp_path, "research", persona)
    made = sum(c["model"] + c["repaired"] for c in persona.tally.values())
    asked = sum(sum(c.values()) for c in persona.tally.values())
    assert result["control"].startswith(f"decisions: the LLM made {made} of {asked} decisions")
    assert "fell back to the scripted policy" in result["control"]  # its merges never name real members
    assert result["decisions"]["editor"]["why"] == {"the reply broke the task's rules after 2 repair turns":
                                                    persona.tally["editor"]["fallback"]}


def test_a_job_shorter_than_the_useful_minimum_is_raised_and_trains(tmp_path):
    """The task gives 5 s per job; the LLM asks for it (allowed) and the workshop raises it to the minimum
    instead of reading the short request as an exhausted budget."""
    persona = Persona("valid")
    out, result = _run(tmp_path, "pair", persona, job_seconds=5.0)
    rows = rows_of(out)
    raised = [r for r in rows if r["event"] == "job_raised"]
    assert raised and all(r["asked"] == 5.0 and r["to"] > 5.0 for r in raised)
    assert not [r for r in rows if r["event"] == "budget_stop"]
    assert result["jobs"].get("ok", 0) >= 4 and result["final_members"]
    assert result["decisions"]["engineer"]["fallback"] == 0


def test_a_director_that_never_proposes_anything_is_replaced_and_the_run_goes_on(tmp_path):
    from roles.schemas import Plan
    from team.testing import FunctionModel

    def hook(agent, model):
        return FunctionModel(lambda request: Plan(), name="openai/empty") if agent == "director" else model

    out, result = run_scripted(tmp_path, "research", model_hook=hook)
    director = result["decisions"]["director"]
    assert director["fallback"] >= 1 and director["model"] == director["repaired"] == 0
    assert director["why"] == {"the reply broke the task's rules after 2 repair turns": director["fallback"]}
    problems = [r["problems"] for r in rows_of(out) if r["event"] == "model_call" and r["role"] == "director"]
    assert all("proposes nothing and does not stop" in p[0] for p in problems)
    assert "proposed nothing new" not in result["stop_reason"]
    assert result["jobs"].get("ok", 0) >= 4 and result["final_members"]


def test_the_report_opens_each_agents_conversation_from_the_role_graph(tmp_path):
    out, result = _run(tmp_path, "research", Persona("careless"))
    page = (out / "report.html").read_text()
    assert '<map name="roles">' in page and 'usemap="#roles"' in page
    for agent in ("director", "engineer", "critic", "editor"):
        assert f'href="transcripts/{agent}.html"' in page
        assert (out / "transcripts" / f"{agent}.html").exists()
    editor = (out / "transcripts" / "editor.html").read_text()
    assert "Your reply is valid JSON, but it cannot be acted on" in editor and "job-that-never-ran" in editor
    md = (out / "transcripts" / "engineer-0.md").read_text()
    assert "wall_seconds: 1 is too short to train anything" in md and "**decision**" in md
    assert "## Who decided" in (out / "report.md").read_text()


def test_usd_uses_the_price_in_the_team_file_per_role(tmp_path):
    persona = Persona("valid")
    with OpenAIServer(handler=persona) as server:
        team = f"""\
name: priced
defaults: {{model: openai/priced, api_base: "{server.url}", price: {{input_per_mtok: 1000, output_per_mtok: 3000}}}}
agents:
  engineer: {{role: engineer}}
  critic: {{role: critic}}
edges:
  - {{from: engineer, to: critic}}
  - {{from: critic, to: engineer, max_loops: 3}}
merge: best
stop: {{rounds: 3}}
"""
        _, result = run_scripted(tmp_path, team, budget="wall=60s,job_seconds=300s,usd=1000")
    for role, t in persona.tokens.items():
        want = (t["prompt"] * 1000 + t["completion"] * 3000) / 1e6
        assert result["spend_by_role"][role]["usd"] == pytest.approx(want), role


def test_usd_uses_litellms_price_map_for_a_mapped_model(tmp_path, monkeypatch):
    """An OpenAI model reached through OPENAI_API_BASE (no api_base of ours) is priced from litellm's map."""
    from team.models.litellm_backend import _import_litellm

    litellm = _import_litellm()
    persona = Persona("valid")
    with OpenAIServer(handler=persona) as server:
        monkeypatch.setenv("OPENAI_API_BASE", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        _, result = run_scripted(tmp_path, "pair", model="openai/gpt-4o-mini", budget="wall=60s,job_seconds=300s")
    per_in, per_out = litellm.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=1, completion_tokens=1)
    t = persona.tokens["engineer"]
    assert result["spend_by_role"]["engineer"]["usd"] == pytest.approx(t["prompt"] * per_in + t["completion"] * per_out)
    assert result["spend_by_role"]["engineer"]["usd"] > 0


def test_proposals_that_differ_only_in_a_default_or_an_inert_knob_run_once(tmp_path):
    """lora_rank acts only with method lora (its `when:` in task.yaml), and a knob left out takes its default:
    an LLM director's three spellings of one experiment run as one job, without the inert value."""
    from roles.schemas import Plan, Proposal
    from team.testing import FunctionModel

    same = [{"lr": 0.004, "steps": 700}, {"lr": 0.004, "steps": 700, "lora_rank": 32},
            {"lr": 0.004, "steps": 700, "method": "full", "lora_rank": 4}]

    def hook(agent, model):
        plan = Plan(proposals=[Proposal(config=c, rationale="one experiment, three spellings") for c in same])
        return FunctionModel(lambda request: plan, name="openai/gated") if agent == "director" else model

    out, _ = run_scripted(tmp_path, "research", model_hook=hook, budget="wall=20s,job_seconds=60s")
    first = [r for r in rows_of(out) if r["event"] == "job_started" and r.get("round") == 1
             and r["command"][-1] == "train.py"]
    assert len(first) == 1, [r["config"] for r in first]
    assert first[0]["config"]["lr"] == 0.004 and first[0]["config"]["lora_rank"] == 8
