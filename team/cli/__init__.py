"""The `synthteam` command line: one module per command group, imported lazily so that help and
validation start fast (no torch, no litellm). Bad input prints one line per problem and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sandbox.errors import ConfigError, SynthteamError

__all__ = ["main", "build_parser", "duration", "plural"]

# Each module exposes register(sub) and adds its commands with handlers returning an exit code.
COMMAND_MODULES = ["team.cli.teams", "team.cli.job", "team.cli.tasks", "team.cli.solution", "team.cli.run", "team.cli.compare"]


def duration(text: str) -> float:
    """An argparse type for every time flag: 90, 90s, 10m, 1.5h (seconds, > 0)."""
    from sandbox.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count(text: str) -> int:
    """An argparse type for every count flag: 4000, 300k, 1.8M (a whole number > 0)."""
    from sandbox.units import parse_count

    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def plural(n: int, word: str) -> str:
    """`1 agent`, `2 agents`."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("synthteam")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthteam",
        description="Synthetic research teams: YAML role graphs that post-train models in a sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"synthteam {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    _warn_other_checkout()
    try:
        return int(handler(args) or 0)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    except SynthteamError as exc:
        if getattr(exc, "signum", None):  # a run stopped by Ctrl-C or SIGTERM, left resumable
            print(str(exc), file=sys.stderr)
            return 128 + int(exc.signum)
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `synthteam schema team | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _warn_other_checkout() -> None:
    """One line when the working directory is a synthteam checkout other than the one installed: its jobs and
    verifier would run the installed code, not the code the user is looking at."""
    from sandbox.host import code_root, other_checkout

    here = other_checkout()
    if here is not None:
        print(f"warning: this synthteam runs the code in {code_root()} (the installed one), not the checkout you are in "
              f"({here}): its jobs and verifier import the installed code; to run this checkout's, install it "
              f"(make setup there) and use its .venv/bin/synthteam", file=sys.stderr)


def _entry() -> None:  # pragma: no cover - console script
    sys.exit(main())
