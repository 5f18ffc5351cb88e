"""The catalog of event rows: every kind of row events.jsonl holds, declared once — its name, the fields
every such row carries, the fields some carry, and whether it is durable (fsynced as it is written, against
a machine crash: rows that record finished work). Emitters pass these names to `EventLog.emit`, readers
compare against them; `EventLog.DURABLE` comes from here, and tests/test_event_catalog.py checks that every
module emits and reads declared events with their declared fields (team/GRAPH.md: adding an event).

Every row also carries `ts`, `event` and the log's context (`run`). `message`, `model_call`, `job_started`,
`job_finished` and `verdict` rows name the replica that acted (`agent`, for a message `from`) and the
message it answers (`parent`): shared/DESIGN.md's event-log contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["Event", "CATALOG", "DURABLE", "CONTEXT", "declare", "problems"]

CONTEXT = frozenset({"ts", "event", "run"})  # on every row: the time, the name, the log's context


@dataclass(frozen=True)
class Event:
    name: str
    fields: frozenset[str]  # every row of this kind carries them
    optional: frozenset[str] = frozenset()  # some rows of this kind carry them
    durable: bool = False
    doc: str = ""


_CATALOG: dict[str, Event] = {}


def declare(name: str, fields: str, optional: str = "", *, durable: bool = False, doc: str = "") -> str:
    """Declare an event row (fields as space-separated names); returns its name for emitters and readers."""
    if name in _CATALOG:
        raise ValueError(f"event {name!r} is declared twice")
    _CATALOG[name] = Event(name, frozenset(fields.split()), frozenset(optional.split()), durable, doc)
    return name


def problems(row: Mapping[str, Any]) -> list[str]:
    """What is wrong with one row against the catalog: an undeclared event, a declared field missing, a
    field the catalog does not know."""
    name = row.get("event")
    spec = _CATALOG.get(str(name))
    if spec is None:
        return [f"undeclared event {name!r}"]
    out = [f"{name}: missing field {f!r}" for f in sorted(spec.fields - set(row))]
    return out + [f"{name}: undeclared field {f!r}" for f in sorted(set(row) - spec.fields - spec.optional - CONTEXT)]


# -- a session's life -----------------------------------------------------------------------------------
SESSION_START = declare("session_start", "resumed wall_offset", doc="a session opened the run directory")
BUDGET_RESTORED = declare("budget_restored", "interrupted spent",
                          doc="a resumed session charged what a dead session's open reservations can have used")
ISOLATION_REDUCED = declare("isolation_reduced", "notice", doc="jobs run with less isolation than asked")
TEAM_START = declare("team_start", "limits backends prior", doc="the team's clock starts")
TEAM_END = declare("team_end", "spent stop_reason", "outcome isolation",
                   doc="the team's time ends; verification follows (a resumed run whose team ended only verifies)")
INTERRUPTED = declare("interrupted", "signal spent open_reservations", doc="a signal stopped the run")
VERIFY_START = declare("verify_start", "model", doc="the verifier starts on the final model (null: none)")
RESULT = declare("result", "baseline_score test_score flags dev_score", durable=True, doc="what result.json says")
SESSION_ERROR = declare("session_error", "error", doc="the session ended with an exception")
SESSION_END = declare("session_end", "seconds interrupted", durable=True, doc="the session closed the log")

# -- messages and decisions -----------------------------------------------------------------------------
MESSAGE = declare("message", "id parent from to edge kind round lane",
                  "decision label job_id status dev_accuracy proposals members entry",
                  doc="a message along an edge; the optional fields are its payload's summary (roles.flow)")
LOOP_LIMIT = declare("loop_limit", "edge parent round kind max_loops",
                     doc="a message its edge's max_loops stopped")
MODEL_CALL = declare("model_call", "call agent role round parent source handler llm output",
                     "attempt backend model usage cost_usd latency_s repairs problems reason policy",
                     doc="one decision of an agent, whoever made it (source: model, repaired, scripted, fallback, memo)")
MODEL_ERROR = declare("model_error", "call agent role round error", doc="a model attempt that failed")
PLAN_DROPPED = declare("plan_dropped", "agent parent round reason", doc="a sub-director planned nothing valid")
INVALID_CONFIG = declare("invalid_config", "agent config error", doc="a config with an unknown or out-of-range knob")
VERDICT = declare("verdict", "round decision reasons agent parent subject", "job_id flags dev_accuracy label panel",
                  durable=True, doc="a critic's (or a self-running agent's) decision on a result, a plan or a merge")
UNREVISED = declare("unrevised", "agent parent round job_id reason",
                    doc="a revision the budget did not allow: the unconfirmed result is not kept")
PATCH_FAILED = declare("patch_failed", "agent parent round call error", doc="an engineer's patch that did not apply")

# -- the tree of attempts --------------------------------------------------------------------------------
NODE = declare("node", "id parent_node operator agent parent round digest operators diff_lines",
               doc="a program the team ran, with its parent node")
NODE_SCORED = declare("node_scored", "id job_id status harness_dev reported_dev agent parent flags",
                      doc="the harness's dev score of a node's job")

# -- jobs and the budget ----------------------------------------------------------------------------------
JOB_STARTED = declare("job_started", "job_id wall_seconds command reservation reserved devices agent role round key "
                      "parent", "node config kind of cpu_seconds",
                      doc="a job holds its slot and its reservation (cpu_seconds: its limit on the CPU clock)")
JOB_FINISHED = declare("job_finished", "key job_id agent role round parent status device_seconds",
                       "node dev_accuracy reported_dev outcome kind of", durable=True,
                       doc="a job (training, or a dev evaluation: kind dev_eval) finished")
JOB_LOST = declare("job_lost", "job_id key agent parent reason", doc="an executor that did not stop a job in time")
JOB_RAISED = declare("job_raised", "key asked to reason", doc="a job's time limit raised to the useful minimum")
BUDGET = declare("budget", "change reservation agent role", "amounts used spent",
                 doc="a reservation (change: reserve, with amounts) or its settlement (settle: used, spent)")
BUDGET_STOP = declare("budget_stop", "reason key", "job_seconds_left wall_left", doc="no new job: the budget ran out")

# -- merges -------------------------------------------------------------------------------------------------
MERGE = declare("merge", "round policy members dev_accuracy changed best_dev agent parent", "signed_by rejected_by",
                durable=True, doc="a candidate installed as the final model (changed) or kept out")
MERGE_BY_HARNESS = declare("merge_by_harness", "round agent parent reason",
                           doc="the editor had no model call left: the harness merged by the team's policy")
SOUP_TRIAL = declare("soup_trial", "round members dev_accuracy kept", doc="one step of a greedy soup")
MERGE_SKIPPED = declare("merge_skipped", "round members reason", doc="checkpoints that could not be averaged")

CATALOG: Mapping[str, Event] = MappingProxyType(_CATALOG)
DURABLE = frozenset(e.name for e in _CATALOG.values() if e.durable)
