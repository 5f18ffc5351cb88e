"""What every room writes to: the append-only event log (events.jsonl) with its catalog of row kinds,
and the budget ledger every model call and job reserves from and settles with.
"""
