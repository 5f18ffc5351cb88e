"""Message flow: the runtime that delivers messages along the team file's edges to the handler each role
kind has for them, the routing of an output (edges, replicas, loop bounds, plan shares), the rounds'
bookkeeping, and the Message with its lineage-derived id.
"""
