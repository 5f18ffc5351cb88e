"""`synthteam validate | show | schema | teams`: team files as a researcher edits them."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check team (and task) files; one FILE:LINE line per problem, exit 2")
    p.add_argument("paths", nargs="+", metavar="PATH", help="team YAML files or built-in team names")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("show", help="print a team's role graph as text (--png draws it)")
    p.add_argument("team", metavar="TEAM", help="a built-in team name or a YAML path")
    p.add_argument("--png", metavar="FILE", help="also draw the graph into a PNG file")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("schema", help="print a JSON Schema (for editor completion of team files)")
    p.add_argument("what", choices=["team"], help="which schema")
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("teams", help="list the built-in teams")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=cmd_teams)


def cmd_validate(args: argparse.Namespace) -> int:
    from sandbox.errors import ConfigError
    from team.config.topology import load_team

    problems = []
    for path in args.paths:
        try:
            team = load_team(path)
        except ConfigError as exc:
            problems += exc.problems
            continue
        agents = sum(a.replicas for a in team.agents.values())
        print(f"ok: {path}: team {team.name!r}, {len(team.agents)} agents ({agents} with replicas), "
              f"{len(team.edges)} edges")
    if problems:
        raise ConfigError(problems)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from team.config.topology import load_team
    from team.views.graph import draw_png, graph_text

    team = load_team(args.team)
    print(graph_text(team))
    if args.png:
        draw_png(team, args.png)
        print(f"drawn: {args.png}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from team.config.spec import TeamSpec

    schema = TeamSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "synthteam team file (schema v1)"
    json.dump(schema, sys.stdout, indent=2)
    print()
    return 0


def cmd_teams(args: argparse.Namespace) -> int:
    from roles.library import team_files
    from team.config.topology import load_team

    rows = []
    for name, path in team_files().items():
        team = load_team(path)
        rows.append({"name": name, "description": team.description, "path": str(path),
                     "agents": {a.name: {"role": a.role.name, "replicas": a.replicas} for a in team.agents.values()},
                     "merge": team.merge, "rounds": team.rounds})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['description']}")
    return 0
