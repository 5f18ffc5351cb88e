"""The orchestrator: team files, the role graph, the async runtime, models, the budget ledger, the
event log, the CLI and experiments. Heavy parts (torch, litellm) load only when used.
"""

from team.engine.ledger import Ledger, parse_budget
from team.config.spec import TeamSpec
from team.config.topology import Agent, Edge, Team, load_team

__all__ = ["Ledger", "parse_budget", "TeamSpec", "Agent", "Edge", "Team", "load_team"]
