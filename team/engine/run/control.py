"""Who was in control of a run, read from its `model_call` rows (every session's, each call once):
per role, how many decisions the model made from its first reply (`model`), after repair turns
(`repaired`), how many fell back to the scripted policy (`fallback`, with why), and how many came from
agents that run scripted policies by design (`scripted`: the scripted backend, samplers). Also the
sentence the CLI ends with and the backend labels (`litellm:openai/x (12% scripted fallback)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from team.engine.agents.runner import SCRIPTED_NAMES
from team.engine.records import catalog as ev

__all__ = ["decisions", "control_line", "backend_labels", "fallback_share", "totals", "fallback_calls",
           "SCRIPTED_NAMES"]

_KEYS = ("model", "repaired", "fallback", "scripted")


def _calls(rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The deciding row of each call: a resumed session's memo rows replay a decision, they make none."""
    out: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        if r.get("event") == ev.MODEL_CALL and r.get("source") != "memo":
            out[r["call"]] = r
    return out


def fallback_calls(rows: Iterable[Mapping[str, Any]]) -> int:
    """Decisions the scripted policy made because a model failed (scripted agents' own faults included)."""
    return sum(r.get("source") == "fallback" for r in _calls(rows).values())


def _kind(row: Mapping[str, Any]) -> str:
    if row.get("llm") in SCRIPTED_NAMES or row.get("backend") == "scripted" and row.get("source") != "fallback":
        return "scripted"  # a scripted agent's own policy, also when a fault made it fall back to itself
    if row.get("source") == "fallback":
        return "fallback"
    return "repaired" if row.get("source") == "repaired" else "model"


def decisions(rows: Iterable[Mapping[str, Any]], key: str = "role") -> dict[str, dict[str, Any]]:
    """key (role, or `llm` for the model name) -> {model, repaired, fallback, scripted, repair_turns, why}."""
    out: dict[str, dict[str, Any]] = {}
    for r in _calls(rows).values():
        d = out.setdefault(str(r.get(key) or ""), {**dict.fromkeys(_KEYS, 0), "repair_turns": 0, "why": {}})
        kind = _kind(r)
        d[kind] += 1
        d["repair_turns"] += int(r.get("repairs") or 0)
        if kind == "fallback":
            why = str(r.get("reason") or "the model failed")
            d["why"][why] = d["why"].get(why, 0) + 1
    return out


def totals(by_role: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    t: dict[str, Any] = {**dict.fromkeys(_KEYS, 0), "repair_turns": 0, "why": {}}
    for d in by_role.values():
        for k in (*_KEYS, "repair_turns"):
            t[k] += int(d.get(k, 0))
        for why, n in d.get("why", {}).items():
            t["why"][why] = t["why"].get(why, 0) + n
    return t


def fallback_share(d: Mapping[str, Any]) -> float | None:
    """The share of decisions asked of a model that the scripted policy made instead (None: none asked)."""
    asked = int(d.get("model", 0)) + int(d.get("repaired", 0)) + int(d.get("fallback", 0))
    return int(d.get("fallback", 0)) / asked if asked else None


def control_line(by_role: Mapping[str, Mapping[str, Any]]) -> str:
    """One sentence: how many decisions the LLM made, how many needed repairs, how many fell back and why."""
    t = totals(by_role)
    llm, asked = t["model"] + t["repaired"], t["model"] + t["repaired"] + t["fallback"]
    by_design = f"; {t['scripted']} more by scripted agents" if t["scripted"] and asked else ""
    if not asked:
        return f"decisions: all {t['scripted']} by the scripted policies (no LLM in this team)"
    why = "; ".join(f"{n}× {w}" for w, n in sorted(t["why"].items(), key=lambda x: -x[1]))
    fell = f"{t['fallback']} fell back to the scripted policy ({why})" if t["fallback"] else "none fell back"
    repaired = f" ({t['repaired']} of them after repair turns)" if t["repaired"] else ""
    made = f"the LLM made {llm} of {asked} decisions{repaired}"
    if llm == 0:
        return (f"warning: every decision was scripted — the LLM made none of {asked}: all fell back to the "
                f"scripted policy ({why}){by_design}")
    if t["fallback"] * 2 > asked:
        return f"warning: most decisions were scripted — {made}; {fell}{by_design}"
    return f"decisions: {made}; {fell}{by_design}"


def backend_labels(backends: Iterable[str], by_llm: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """`litellm:openai/x (12% scripted fallback)` for each LLM backend; scripted ones as they are."""
    out = []
    for label in backends:
        name = label.removeprefix("litellm:")
        share = fallback_share(by_llm.get(name, {})) if name not in SCRIPTED_NAMES else None
        out.append(f"{label} ({round(100 * share)}% scripted fallback)" if share is not None else label)
    return out
