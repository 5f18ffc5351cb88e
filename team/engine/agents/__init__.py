"""Agents and conversations: an agent replica's decisions (its role's prompt rendered from a typed
context, the conversation with its model under the ledger, repairs, the scripted fallback, the call memo),
its transcripts, and what it knows from the messages it received.
"""
