"""The engine: one run directory's lifecycle (session), the runtime that passes messages along the
team file's edges, the agents, the workshop that runs jobs, the merger, the budget ledger and the
event log. Uses config/ and models/; never imports studies/, views/ or cli/.
"""
