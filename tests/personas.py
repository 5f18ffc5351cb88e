"""Personas for the test OpenAI server (tests/openai_server.py): how real LLMs answer synthteam's prompts.

Each persona reads a request as a literal model would — the role from the system message, the schema from
`response_format` (or the instructions), the knob lines of the task card and the numbers the prompt
states — answers in its manner, and keeps a tally of what it meant by each decision, per role: taken at
once (`model`), wrong on purpose and fixed in the repair turn (`repaired`), or never usable (`fallback`).
A run's result.json must report the same counts. It also tallies the tokens it reported, per role.

    valid        valid minimal answers                 chatty    prose and code fences around the JSON
    knobs        unknown and out-of-range knobs        short     jobs far shorter than the useful minimum
    ghosts       merge members that do not exist       alternating  verdicts cycle accept / revise / reject
    prose        replies that are never JSON           flaky     slow replies and 429s (retried, not repaired)
    careless     valid JSON, careless content: a bad knob in each plan (fixed when told), jobs too short (fixed
                 on the second repair turn), merge members that do not exist (never fixed: the policy merges)
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from tests.openai_server import Behaviour, completion_body, error_body

__all__ = ["Persona", "PERSONAS", "Ask", "knobs_of"]

PHI = 0.6180339887498949
_KNOB = re.compile(r"^- (\w+) \((float|int|choice|bool)(?:: ([^;]*))?; default ([^)]*)\)", re.M)


@dataclass(frozen=True)
class Ask:
    """One request as a model sees it."""

    role: str
    schema: str
    prompt: str  # the rendered prompt (the first user message)
    turn: int  # 0: the first reply of a decision; n: the n-th repair turn
    tokens: int  # the prompt's size as the persona reports it

    @property
    def repair(self) -> bool:
        return self.turn > 0

    @classmethod
    def of(cls, body: dict) -> Ask:
        messages = body["messages"]
        system = " ".join(m["content"] for m in messages if m["role"] == "system")
        role = re.search(r"You are the (\S+) of a synthetic research team", system).group(1)
        fmt = body.get("response_format") or {}
        schema = fmt["json_schema"]["name"] if fmt.get("json_schema") else \
            re.search(r"JSON schema for (\w+)", system).group(1)
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        size = sum(len(m["content"]) for m in messages) // 4
        return cls(role, schema, prompt, sum(m["role"] == "assistant" for m in messages), size)

    def number(self, pattern: str) -> float:
        return float(re.search(pattern, self.prompt).group(1))


def knobs_of(prompt: str) -> dict[str, dict[str, Any]]:
    """The task card's knob lines: name -> {kind, low, high, log}."""
    out = {}
    for name, kind, spec, _ in _KNOB.findall(prompt):
        k: dict[str, Any] = {"kind": kind}
        if kind in ("float", "int") and ".." in spec:
            low, high = spec.replace(", log scale", "").split("..")
            k.update(low=float(low), high=float(high), log="log scale" in spec)
        out[name] = k
    return out


class Persona:
    """A handler for OpenAIServer: `OpenAIServer(handler=Persona("knobs"))`."""

    def __init__(self, name: str = "valid", delay: float = 0.0):
        self.name, self.delay = name, delay
        self.tally: dict[str, Counter] = defaultdict(Counter)  # role -> model / repaired / fallback
        self.tokens: dict[str, Counter] = defaultdict(Counter)  # role -> prompt / completion tokens reported
        self.requests = 0
        self._refused: set[str] = set()  # prompts answered with a 429 once
        self._fresh = 0
        self._verdicts = 0
        self._lock = threading.Lock()

    @property
    def refused(self) -> int:
        """429s sent."""
        return len(self._refused)

    def __call__(self, body: dict) -> Behaviour:
        ask = Ask.of(body)
        with self._lock:
            self.requests += 1
            if self.name == "flaky" and not ask.repair and ask.prompt not in self._refused:
                self._refused.add(ask.prompt)  # each decision's first request: one 429, then an answer
                return Behaviour(429, error_body(429, "rate limit reached"), {"retry-after": "0"})
            good = answer(ask, self)
            if ask.repair:
                content = self._repair(ask, good)
            else:
                content, meant = self._first(ask, good)
                self.tally[ask.role][meant] += 1
            completion = max(1, len(content) // 4)
            self.tokens[ask.role].update(prompt=ask.tokens, completion=completion)
        delay = self.delay or (0.05 if self.name == "flaky" else 0.0)
        return Behaviour(body=completion_body(content, prompt_tokens=ask.tokens, completion_tokens=completion),
                         delay=delay)

    def fresh_config(self, knobs: dict[str, dict]) -> dict[str, Any]:
        """A config never proposed before: the learning rate walks a low-discrepancy sequence."""
        self._fresh += 1
        u = 0.3 + 0.4 * ((self._fresh * PHI) % 1.0)
        out: dict[str, Any] = {}
        for name in ("lr", "steps", "batch_size"):
            k = knobs.get(name)
            if k and "low" in k:
                out[name] = _value(k, u if name == "lr" else 0.5)
        return out

    # -- what each persona does with a first turn, and with a repair turn -------------------------------
    def _first(self, ask: Ask, good: dict) -> tuple[str, str]:
        name = self.name
        if name == "prose":
            return "I would start with a moderate learning rate and see how the loss behaves.", "fallback"
        if name == "chatty":
            text = json.dumps(good)
            wrapped = f"Sure! Here is my answer:\n```json\n{text}\n```\nLet me know." if self.requests % 2 else \
                f"My decision: {text} — based on the curves above."
            return wrapped, "model"
        if name == "alternating" and ask.schema == "Verdict":
            return self._alternate(ask, good)
        bad = _careless(name, ask, good)
        if bad is None:
            return json.dumps(good), "model"
        stubborn = name == "careless" and ask.schema == "MergeDecision"  # never fixes its members
        return json.dumps(bad), "fallback" if stubborn else "repaired"

    def _repair(self, ask: Ask, good: dict) -> str:
        if self.name == "prose":
            return "Sorry, I cannot produce JSON for this."
        if self.name == "careless" and (ask.schema == "MergeDecision" or ask.schema == "JobSpec" and ask.turn == 1):
            return json.dumps(_careless(self.name, ask, good))  # the same mistake again
        if self.name == "alternating" and ask.schema == "Verdict":
            return json.dumps({**good, "decision": "reject", "reasons": ["rejected on repair"]})
        return json.dumps(good)

    def _alternate(self, ask: Ask, good: dict) -> tuple[str, str]:
        decision = ("accept", "revise", "revise", "reject")[self._verdicts % 4]  # revise often: past the bound too
        self._verdicts += 1
        left = int(ask.number(r"Revisions left: (\d+)"))
        ok = decision == "reject" or (decision == "revise" and left > 0) or (decision == "accept" and _acceptable(ask))
        out = {**good, "decision": decision, "reasons": [f"alternating: {decision}"]}
        return json.dumps(out), "model" if ok else "repaired"


def _value(k: dict, u: float) -> Any:
    low, high = k["low"], k["high"]
    if k["log"] and low > 0:
        x = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        x = low + u * (high - low)
    return int(round(x)) if k["kind"] == "int" else float(f"{x:.6g}")


def _acceptable(ask: Ask) -> bool:
    """A result review the harness lets a critic accept: the job ended ok with a score, no integrity flags."""
    if "Review job" not in ask.prompt:
        return True  # a plan or a merge
    dev = re.search(r"Dev accuracy, scored by the harness: (\S+)\.", ask.prompt)
    return "status ok" in ask.prompt and dev is not None and dev.group(1) != "None" and \
        "Integrity problems" not in ask.prompt


def _careless(name: str, ask: Ask, good: dict) -> dict | None:
    """The persona's deliberate mistake for this schema, or None (it answers validly)."""
    wants = {"knobs": {"Plan", "JobSpec", "SoloStep"}, "short": {"JobSpec"}, "ghosts": {"MergeDecision"},
             "careless": {"Plan", "JobSpec", "MergeDecision"}}.get(name, set())
    if ask.schema not in wants:
        return None
    if ask.schema == "Plan" and good["proposals"]:
        first = {**good["proposals"][0], "config": {**good["proposals"][0]["config"], "learning_rate": 0.01,
                                                   "lr": 5.0}}
        return {**good, "proposals": [first, *good["proposals"][1:]]}
    if ask.schema == "JobSpec":
        return {**good, "wall_seconds": 1.0} if name != "knobs" else {**good, "config": {**good["config"], "lr": 7.0}}
    if ask.schema == "MergeDecision":
        return {**good, "members": ["job-that-never-ran"]}
    if ask.schema == "SoloStep" and good.get("next"):
        return {**good, "next": {**good["next"], "config": {**good["next"]["config"], "warmup": 0.1}}}
    return None


def answer(ask: Ask, persona: Persona) -> dict:
    """A valid answer in the schema, from what the prompt says (as a literal, rule-following model)."""
    p = ask.prompt
    if ask.schema == "Plan":
        n = int(ask.number(r"Propose (\d+)"))
        knobs = knobs_of(p)
        return {"proposals": [{"config": persona.fresh_config(knobs), "rationale": "a fresh point on the lr axis"}
                              for _ in range(n)], "stop": False, "reason": "keep exploring"}
    if ask.schema == "JobSpec":
        config = json.loads(re.search(r"Proposal: (\{.*?\}) —", p).group(1))
        return {"config": config, "seed": int(ask.number(r"seed (\d+)\.")),
                "wall_seconds": ask.number(r"Time limit per job: ([\d.]+) seconds"), "note": "as proposed"}
    if ask.schema == "Verdict":
        decision = "accept" if _acceptable(ask) else "reject"
        return {"decision": decision, "reasons": ["read the curve"]}
    if ask.schema == "MergeDecision":
        members = re.findall(r"^- (\S+): dev", p, re.M)
        return {"policy": "best", "members": members[:1], "log": "kept the best accepted checkpoint"}
    if ask.schema == "SoloStep":
        last_ok = bool(re.search(r"^Last experiment \S+: .* -> ok,", p, re.M))
        return {"keep_last": last_ok, "next": {"config": persona.fresh_config(knobs_of(p)), "rationale": "next lr"},
                "stop": False, "reason": ""}
    raise AssertionError(f"no answer for schema {ask.schema}")


PERSONAS = ("valid", "chatty", "knobs", "short", "ghosts", "alternating", "prose", "flaky", "careless")
