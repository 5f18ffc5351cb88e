"""The engine: one run of a team on a task, in rooms whose names say their one job. Arrows point one way,
down this list (tests/test_layers.py checks them):

    run/      a run directory's lifecycle: options, preflight checks, the session (lock, manifest, resume,
              watchdog, interrupts), assembling the parts, restoring spend and memos, the result and who
              was in control
    acts/     what each role does with each message kind it takes: the handlers, each role's own state,
              and the narrow context a handler is given
    flow/     message flow: the runtime that routes and delivers messages along the team file's edges,
              routing, rounds, the Message
    agents/   agents and conversations: a replica's model calls (prompts, repairs, fallbacks, memos), its
              transcripts, what it knows
    work/     work and results: the workshop that runs and scores jobs, the merger, the tree of attempts,
              the scoreboard, the team's outcome
    records/  what every room writes to: the event log and its catalog of rows, the budget ledger

agents/ and work/ never import each other. Uses config/ and models/; never imports studies/, views/ or cli/.
"""

__all__ = ["run", "acts", "flow", "agents", "work", "records"]
