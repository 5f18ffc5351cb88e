"""Team files: the schema v1 pydantic models (spec) and the checked role graph (topology).

Nothing here runs anything: a team file goes in, frozen dataclasses come out, or a ConfigError with one
`FILE:LINE: what is wrong` line per problem. Imports nothing else of team/.
"""

from team.config.spec import TeamSpec
from team.config.topology import Agent, Edge, Team, load_team, resolve_team_path

__all__ = ["TeamSpec", "Agent", "Edge", "Team", "load_team", "resolve_team_path"]
