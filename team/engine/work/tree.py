"""The tree of attempts: every solution the team ran is a node — its parent node, the operator that made it,
the replica that wrote it, the digest of its files, its diff against the parent, its job's status, the
harness's dev score, the verdicts on it. The root is the task's starter. Each node's files are kept under
`runs/<id>/tree/<node>/`, written by a thread of its own while the run goes on (`close()` waits for them:
the report reads them); `node` rows in events.jsonl record it. Node ids depend only on the parent and the
content, so a resumed run that replays the same decisions rebuilds the same tree.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groundwork.errors import SynthteamError
from team.engine.records import catalog as ev

__all__ = ["Node", "AttemptTree", "ROOT", "edited_files"]

ROOT = "starter"


@dataclass
class Node:
    id: str
    parent: str | None
    operator: str
    author: str
    round: int
    digest: str
    operators: tuple[str, ...] = ()  # the code changes from the starter to here: operators, else edited files
    status: str = "pending"
    harness_dev: float | None = None
    reported_dev: float | None = None
    job_id: str = ""
    verdicts: list[str] = field(default_factory=list)
    error: str = ""


class AttemptTree:
    def __init__(self, root: Path, starter: Any, events: Any, applied: Any = None):
        """`starter`: the task's starter Solution; `applied(solution)`: the code operators in its program."""
        self.root, self.events = Path(root), events
        self._applied = applied or (lambda solution: ())
        self.nodes: dict[str, Node] = {}
        self._solutions: dict[str, Any] = {ROOT: starter}
        self._diffs: dict[str, str] = {ROOT: ""}  # each node's change to its parent, computed once
        self._by_job: dict[str, Node] = {}
        self._starter_code: tuple[str, ...] | None = None  # the starter's code changes, worked out once
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="tree")  # node files, in the order of the nodes
        self._written: list[Future] = []
        self._closed = False  # after close(), a late node (a task ending its cancellation) is written at once
        weakref.finalize(self, self._writer.shutdown, wait=False)
        self.nodes[ROOT] = Node(ROOT, None, "starter", "harness", 0, starter.digest, status="starter")
        self._write(ROOT, starter)

    def solution(self, node_id: str) -> Any:
        return self._solutions[node_id]

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def resolve(self, ref: str | None, best: str | None = None) -> str:
        """A proposal's `node`: an id of this tree, 'best' (the final model's best member), or the starter."""
        if ref in self.nodes:
            return ref
        if ref == "best" and best in self.nodes:
            return best
        return ROOT

    def add(self, parent: str, solution: Any, operator: str, author: str, round: int, msg: str | None, *,
            same_code: bool = False) -> Node:
        """The node for `solution` made from `parent` (the existing one when the same content came again).
        `same_code`: the solution is the parent's program with only knob constants set (a tune), so its code
        changes are the parent's (no parse of its train.py)."""
        node_id = "n" + hashlib.sha1(f"{parent}|{solution.digest}".encode()).hexdigest()[:10]
        if node_id not in self.nodes:
            node = Node(node_id, parent, operator, author, round, solution.digest, self._changes(parent, solution,
                                                                                             same_code))
            self.nodes[node_id] = node
            self._solutions[node_id] = solution
            self._write(node_id, solution)
            diff = self._diffs[node_id] = solution.diff(self.solution(parent))
            self.events.emit(ev.NODE, id=node_id, parent_node=parent, operator=operator, agent=author, parent=msg,
                             round=round, digest=solution.digest, operators=list(node.operators),
                             diff_lines=len(diff.splitlines()))
        return self.nodes[node_id]

    def _changes(self, parent: str, solution: Any, same_code: bool) -> tuple[str, ...]:
        if not same_code:
            return tuple(self._applied(solution))
        if parent != ROOT:
            return self.nodes[parent].operators
        if self._starter_code is None:
            self._starter_code = tuple(self._applied(self.solution(ROOT)))
        return self._starter_code

    def scored(self, node_id: str, outcome: Any, msg: str | None, agent: str | None = None) -> None:
        """The node's job finished; `agent` is the replica that ran it (a node another wrote first may be run
        again by someone else, e.g. a peer's replication with another seed)."""
        node = self.nodes[node_id]
        node.status, node.harness_dev, node.job_id = outcome.status, outcome.dev_accuracy, outcome.job_id
        node.reported_dev, node.error = outcome.reported_dev, outcome.error
        self._by_job[outcome.job_id] = node
        self.events.emit(ev.NODE_SCORED, id=node_id, job_id=outcome.job_id, status=outcome.status,
                         harness_dev=outcome.dev_accuracy, reported_dev=outcome.reported_dev, agent=agent or node.author,
                         parent=msg, flags=list(outcome.flags))

    def failed(self, node_id: str, error: str) -> None:
        self.nodes[node_id].status, self.nodes[node_id].error = "failed", error

    def judged(self, job_id: str, decision: str) -> None:
        if job_id in self._by_job:
            self._by_job[job_id].verdicts.append(decision)

    def of_job(self, job_id: str) -> Node | None:
        return self._by_job.get(job_id)

    def diff(self, node_id: str, against: str | None = None) -> str:
        """The node's change to its parent (or to `against`, e.g. the starter)."""
        node = self.nodes[node_id]
        if against is None and node_id in self._diffs:
            return self._diffs[node_id]
        base = against or node.parent or ROOT
        return self.solution(node_id).diff(self.solution(base))

    def close(self) -> None:
        """Wait until every node's files are written (a write that failed raises here); again: nothing."""
        written, self._written, self._closed = self._written, [], True
        wait(written)
        self._writer.shutdown(wait=True)
        for done in written:
            done.result()

    def _write(self, node_id: str, solution: Any) -> None:
        meta = {k: v for k, v in vars(self.nodes[node_id]).items() if k != "verdicts"}  # as the node is now
        if self._closed:
            _write_node(self.root, node_id, dict(solution.files), meta)
        else:
            self._written.append(self._writer.submit(_write_node, self.root, node_id, dict(solution.files), meta))


def _write_node(root: Path, node_id: str, files: dict[str, str], meta: dict[str, Any]) -> None:
    folder = root / node_id
    for path, text in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (folder.parent / f"{node_id}.json").write_text(json.dumps(meta, default=str))


def edited_files(base: Any, solution: Any, knobs: set[str]) -> list[str]:
    """The files of `solution` that differ from `base` once its knob constants (`LR`, ...) are set back to
    `base`'s: a change of the program, not of its knobs. Other constants (`GRAD_CLIP`) are code."""
    from tasks.solutions import constants, set_constants

    try:
        theirs = constants(solution)
        reset = set_constants(solution, {k: v for k, v in constants(base).items() if k in knobs and k in theirs})
    except (SynthteamError, ValueError):  # a train.py that does not parse: every file compares as it is
        reset = solution
    return sorted(p for p in set(base.files) | set(reset.files) if base.files.get(p) != reset.files.get(p))
