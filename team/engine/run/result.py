"""`RunResult`: what a run's result.json says, as one frozen value written once at the end of a session."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from team.engine.records.events import read_events
from team.engine.run.control import backend_labels, control_line, decisions, fallback_calls

__all__ = ["RunResult"]


@dataclass(frozen=True)
class RunResult:
    run_id: str
    team: str
    task: str
    seed: int
    baseline_score: float
    test_score: float
    flags: list[dict]
    n: int | None
    dev_score: float | None
    final_members: list[str]
    budget_used: dict[str, float]
    budget_limits: dict[str, float | None]
    spend_by_role: dict[str, dict[str, float]]
    spend_by_agent: dict[str, dict[str, float]]
    backend: list[str]
    jobs: dict[str, int]
    faults: dict[str, int]
    stop_reason: str
    device_busy_share: float | None
    device_slots: int
    prior: str = "starter"
    final_config: dict | None = None
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> model/repaired/fallback/...
    control: str = ""  # one sentence: who made the decisions (team.engine.run.control)
    final_node: str | None = None  # the program (tree node) behind the final model's best member
    final_operators: list[str] = field(default_factory=list)  # its code changes against the starter
    tree_nodes: int = 0
    eval_logs: str | None = None  # the verifier's Inspect logs (`inspect view --log-dir` it), for Inspect tasks
    isolation: str = ""  # how jobs ran: bwrap, or none (with why: not installed, or --no-isolation)
    clock: str = "wall"  # job_seconds are CPU-seconds of the jobs' cgroups ("cpu") or wall seconds ("wall")
    verifier_seconds: dict | None = None  # the verifier's job: wall and CPU seconds, outside every budget

    @classmethod
    def build(cls, run_dir: Path, team: Any, task: Any, options: Any, verdict: dict, outcome: Any,
              ledger: Any, spent: dict, isolation: str = "") -> RunResult:
        rows = read_events(Path(run_dir) / "events.jsonl")  # every session's decisions, each call once
        by_role, by_llm = decisions(rows), decisions(rows, key="llm")
        fallbacks = fallback_calls(rows)
        return cls(run_id=run_dir.name, team=team.name, task=task.name, seed=options.seed,
                   baseline_score=verdict["baseline_score"], test_score=verdict["test_score"],
                   flags=verdict.get("flags", []), n=verdict.get("n"), dev_score=outcome.final_dev,
                   final_members=list(outcome.final_members), budget_used=spent,
                   budget_limits=ledger.limits_out(), spend_by_role=ledger.per_role(),
                   spend_by_agent=ledger.per_agent(), backend=backend_labels(outcome.backends, by_llm),
                   jobs=dict(outcome.jobs), faults={"model_errors": outcome.model_errors, "fallbacks": fallbacks},
                   stop_reason=outcome.stop_reason, device_busy_share=outcome.busy_share(spent["wall"]),
                   device_slots=outcome.capacity, prior=options.prior,
                   final_config=_final_config(run_dir, outcome.final_members), decisions=by_role,
                   control=control_line(by_role), final_node=outcome.final_node,
                   final_operators=list(outcome.final_operators), tree_nodes=outcome.nodes, isolation=isolation,
                   eval_logs=verdict.get("eval_logs"), clock="cpu" if options.clock == "cpu" else "wall",
                   verifier_seconds=verdict.get("verifier_seconds"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, key: str) -> Any:  # result["test_score"], as the result.json reads
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def write(self, run_dir: Path) -> None:
        path = Path(run_dir) / "result.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        tmp.replace(path)


def _final_config(run_dir: Path, members: Any) -> dict | None:
    """The config behind a single-member final model (what a search arm's result names)."""
    if len(members) != 1:
        return None
    path = Path(run_dir) / "jobs" / members[0] / "result.json"
    try:
        return dict(json.loads(path.read_text())["metadata"].get("config") or {}) or None
    except (OSError, ValueError, KeyError, AttributeError):
        return None
