"""`synthteam validate | show | schema | teams`: team files as a researcher edits them."""

from __future__ import annotations

import argparse
import json
import sys

from team.cli import plural

__all__ = ["register"]

SCHEMAS = ["team"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check team and task files; one FILE:LINE line per problem, exit 2")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="team YAML files or built-in team names; task.yaml files, task folders or built-in task names")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("show", help="print a team's role graph as text (--png draws it)")
    p.add_argument("team", metavar="TEAM", help="a built-in team name or a YAML path")
    p.add_argument("--png", metavar="FILE", help="also draw the graph into a PNG file")
    p.add_argument("--yaml", action="store_true", help="print the team file itself (a start for your own: "
                                                       "synthteam show pair --yaml > my_team.yaml)")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("schema", help="print a JSON Schema (for editor completion of team files)")
    p.add_argument("what", nargs="?", choices=SCHEMAS, help="which schema: team (the only one)")
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("teams", help="list the built-in teams")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=cmd_teams)


def cmd_validate(args: argparse.Namespace) -> int:
    from sandbox.errors import ConfigError

    problems = []
    for path in args.paths:
        try:
            print(_validate_task(path) if _is_task(path) else _validate_team(path))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return 0


def _validate_team(path: str) -> str:
    from team.config.topology import load_team

    team = load_team(path)
    agents = sum(a.replicas for a in team.agents.values())
    replicas = f" ({agents} with replicas)" if agents != len(team.agents) else ""
    return (f"ok: {path}: team {team.name!r}, {plural(len(team.agents), 'agent')}{replicas}, "
            f"{plural(len(team.edges), 'edge')}")


def _validate_task(path: str) -> str:
    from pathlib import Path

    from sandbox.errors import ConfigError
    from tasks import BUILTIN_TASKS, load_task

    folder = Path(path)
    ptb = (folder / "benchmark.txt").is_file() or (folder / "evaluate.py").is_file()  # a PostTrainBench folder
    if path not in BUILTIN_TASKS and folder.is_dir() and not (folder / "task.yaml").is_file() and not ptb:
        raise ConfigError(f"{path}:1: not a task folder (it holds no task.yaml, nor a PostTrainBench benchmark.txt "
                          "and evaluate.py); validate takes team files, task files and task folders")
    task = load_task(path)
    return f"ok: {path}: task {task.name!r} ({task.kind}, base model {task.base_model}), " \
           f"{plural(len(task.knobs), 'knob')}"


def _is_task(text: str) -> bool:
    """Task files and folders (and built-in task names) are validated as tasks, everything else as a team:
    a task.yaml, a folder, or a YAML file with a task's keys and no agents."""
    from pathlib import Path

    from roles.library import team_files
    from sandbox.errors import ConfigError
    from tasks import BUILTIN_TASKS
    from tasks.yamlio import load_yaml

    path = Path(text)
    if text in team_files():
        return False
    if text in BUILTIN_TASKS or path.is_dir() or path.name in ("task.yaml", "task.yml"):
        return True
    try:
        data = load_yaml(path)
    except ConfigError:
        return False  # the team loader says what is wrong with it
    return "agents" not in data and bool({"knobs", "base_model", "benchmark"} & set(data))


def cmd_show(args: argparse.Namespace) -> int:
    from team.config.topology import load_team
    from team.views.graph import draw_png, graph_text

    team = load_team(args.team)
    if args.yaml:  # the file itself: a start for a team of your own
        sys.stdout.write(team.path.read_text())
        return 0
    print(graph_text(team))
    if args.png:
        draw_png(team, args.png)
        print(f"drawn: {args.png}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from sandbox.errors import ConfigError
    from team.config.spec import TeamSpec

    if args.what is None:
        raise ConfigError(f"schema: name the schema to print: {', '.join(SCHEMAS)} "
                          "(e.g. synthteam schema team > team.schema.json)")

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
