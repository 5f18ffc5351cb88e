"""`synthteam compare` (team vs solo vs best-of-k vs random vs tpe search, compute-matched, across seeds; with
`--plan`, only the power it would have) and `synthteam noise` (the reference recipe's seed-to-seed spread)."""

from __future__ import annotations

import argparse
import json
import sys

from team.cli import count, duration, plural

__all__ = ["register"]


def _executor_flags(p: argparse.ArgumentParser, slurm: bool = False) -> None:
    p.add_argument("--executor", choices=["local", "ray", "slurm"] if slurm else ["local", "ray"], default="local",
                   help="local: cells one after another, each using every job slot; ray: cells run concurrently"
                        + ("; slurm: each cell one Slurm job through submitit (extra slurm)" if slurm else ""))
    p.add_argument("--address", dest="ray_address", help="the Ray cluster address (with --executor ray)")
    p.add_argument("--isolation", choices=["auto", "bwrap", "none"], default="auto",
                   help="auto: bubblewrap when it works here (required when an LLM writes the code), else none")
    p.add_argument("--no-isolation", dest="isolation", action="store_const", const="none",
                   help="run jobs without bubblewrap even when an LLM writes their code (recorded per cell)")
    p.add_argument("--threads", dest="cpu_threads", type=int, default=1, help="CPU threads per job (default 1)")
    p.add_argument("--clock", choices=["auto", "cpu", "wall"], default="auto",
                   help="what limits and charges a CPU job: cpu (the CPU-seconds of its cgroup: the same compute "
                        "alone and beside busy neighbours), wall (wall seconds), or auto (the default: cpu where "
                        "the cgroups count it; GPU and Ray jobs are on the wall clock)")
    p.add_argument("--gpus", type=int, default=0, help="GPUs per job (default 0)")
    p.add_argument("--provider", choices=["hf", "vllm"], default=None,
                   help="the Inspect AI provider of every evaluation of a task scored by Inspect: hf (CPU or "
                        "GPU) or vllm (GPU, when installed); default: the task's own setting")
    p.add_argument("--job-seconds", type=duration, help="the time limit of one recipe job, e.g. 90s or 5m "
                                                        "(default: the task's)")
    p.add_argument("--job-tokens", type=count, help="one job's horizon in training tokens, e.g. 1.8M: its schedule "
                   "ends there (default: the task's job_tokens; a task without one has no horizon)")


def _power_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plan", action="store_true",
                   help="run no cell: measure (or read --noise) the noise floor and print per task the minimum "
                        "detectable difference (paired t, two-sided α 0.05, power 0.8) for --seeds")
    p.add_argument("--pilot", metavar="COMPARISON_JSON",
                   help="with --plan: an earlier study's comparison.json; the plan also gives the MDE and seeds "
                        "needed from each of its arms' observed paired spread (no noise floor is measured)")
    p.add_argument("--detect", type=float, help="a difference you want to see (e.g. 0.1): the seeds it needs")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare teams, solo, best-of-k, random and tpe search at equal compute",
                       description="Run every arm on every task and seed with the same budget, pair arms by seed, "
                                   "and write OUT/comparison.json, comparison.md and comparison.html. Rerunning the "
                                   "same command resumes: finished cells are not run again.")
    p.add_argument("--task", dest="tasks", action="append", required=True, help="a task (repeatable)")
    p.add_argument("--arm", dest="arms", action="append", default=[],
                   help="a built-in team (see `synthteam teams`: solo, pair, research, random, tpe, ...), NAME=TEAM "
                        "(a team YAML or a built-in team) or best-of-k[=K] (repeatable; `optuna` is another name "
                        "for tpe); differences are paired against the arm named solo")
    p.add_argument("--seeds", type=int, default=5, help="seeds per arm (0..N-1; default 5)")
    p.add_argument("--budget", help="per cell: a wall-clock duration (job-seconds scale with it), e.g. 3m, or "
                                    "key=value pairs wall=3m,job_seconds=5m,tokens=100000,usd=1")
    p.add_argument("--out", default="comparison", help="the output folder (default ./comparison)")
    p.add_argument("--noise-runs", type=int, default=3,
                   help="reference-recipe runs for the noise floor (default 3; 0 or 1: none)")
    p.add_argument("--noise", dest="noise_file", help="a noise.json from `synthteam noise` instead of measuring")
    p.add_argument("--parallel", type=int, default=0,
                   help="cells at once. Local: N side by side sharing the cores, one CPU job per core (default 1); "
                   "ray: default as many as the cluster holds; slurm: array jobs at once (default: all)")
    _power_flags(p)
    p.add_argument("--prior", choices=["starter", "reference", "defaults", "none"], default="starter",
                   help="what every arm starts from: starter (the constants of its starter train.py, the default), "
                        "reference (the task's reference recipe), defaults (its knob defaults) or none; the team's first plan, solo's first job and the samplers' first trial")
    p.add_argument("--ablate", metavar="TEAM",
                   help="add the team and one arm per removable agent group of it (without each critic, without the "
                        "editor, one engineer, ...; rules in team/studies/ablate.py): what each role adds is its "
                        "paired difference against the full team")
    p.add_argument("--reference", metavar="ARM", help="the arm differences are paired against (default: solo; the "
                                                      "full team with --ablate)")
    p.add_argument("--recipe-seeds", type=int, default=0, metavar="K",
                   help="also train each cell's final recipe again on seeds 0..K-1, the same for every cell, score "
                        "each with the verifier and pair the arms on the means: what each arm found, without the "
                        "seed its run drew (default 0: off; runs on this machine, outside the arms' budgets)")
    _executor_flags(p, slurm=True)
    p.add_argument("--partition", help="with --executor slurm: the Slurm partition")
    p.add_argument("--time", dest="slurm_minutes", type=int, default=60,
                   help="with --executor slurm: each cell's time limit in minutes (default 60)")
    p.add_argument("--slurm-option", dest="slurm_options", action="append", default=[], metavar="KEY=VALUE",
                   help="with --executor slurm: an sbatch option per cell, e.g. cpus_per_task=4, mem=8G, "
                        "gpus_per_node=1, account=A (repeatable; give every cell the same)")
    p.set_defaults(handler=cmd_compare)

    p = sub.add_parser("noise", help="the reference recipe's seed-to-seed spread (the noise floor for compare)")
    p.add_argument("--task", required=True)
    p.add_argument("--runs", type=int, default=5, help="seeds 0..RUNS-1 (default 5)")
    p.add_argument("--budget", help="a limit on the whole measurement, e.g. job_seconds=10m")
    p.add_argument("--out", help="the folder for the runs and noise.json (default noise/<task>)")
    _executor_flags(p)
    p.set_defaults(handler=cmd_noise)


def _run_options(args: argparse.Namespace):
    from team.engine.run.options import RunOptions

    executor = "local" if args.executor == "slurm" else args.executor  # on slurm a cell's jobs run on its node
    if args.executor == "local":  # GPUs this machine lacks: one line now, not after the noise floor has started
        from team.engine.run.preflight import check_devices

        check_devices(argparse.Namespace(gpus=args.gpus, cpu_threads=args.cpu_threads, executor="local"))
    if args.provider:  # read by tasks.load_task in every cell of this study (and by the Slurm cells it starts)
        import os

        os.environ["SYNTHTEAM_PROVIDER"] = args.provider
    return RunOptions(executor=executor, ray_address=args.ray_address, isolation=args.isolation,
                      cpu_threads=args.cpu_threads, gpus=args.gpus, job_seconds=args.job_seconds,
                      job_tokens=args.job_tokens, progress=False,
                      provider=args.provider, clock=args.clock)


def _slurm(args: argparse.Namespace):
    from team.studies.dispatch import SlurmOptions, parse_slurm_options

    if args.executor != "slurm":
        return None
    return SlurmOptions(partition=args.partition, minutes=args.slurm_minutes,
                        options=parse_slurm_options(args.slurm_options))


def _call(diff: dict | None) -> str:
    """An arm's call against the reference, as the summary lines end ('' for the reference itself)."""
    return f"  {diff.get('verdict') or diff['call']} vs {diff['against']} ({diff['mean']:+.3f})" if diff else ""


def _print_recipes(task: str, recipes: dict | None) -> None:
    if not recipes:
        return
    for arm, d in recipes["arms"].items():
        mean = f"{d['mean']:.3f} [{d['ci']['low']:.3f}, {d['ci']['high']:.3f}]" if d.get("mean") is not None else "-"
        print(f"{task} {arm} recipes on {recipes['seeds']} shared seeds: {mean}{_call(recipes['paired'].get(arm))}",
              file=sys.stderr)
    mdes = [a["mde_observed"] for a in recipes["power"]["arms"].values() if a["mde_observed"] is not None]
    planned = "-" if recipes["mde"] is None else f"{recipes['mde']:.3f}"
    print(f"{task} recipes: minimum detectable difference {planned} planned"
          + (f", {max(mdes):.3f} observed" if mdes else "") + f" at {recipes['power']['seeds']} seeds", file=sys.stderr)


def cmd_compare(args: argparse.Namespace) -> int:
    from sandbox.errors import ConfigError
    from team.studies.arms import parse_arm
    from team.studies.compare import CompareOptions, load_arms, run_compare, run_plan

    if args.seeds < 1:
        raise ConfigError("--seeds: at least one seed")
    if args.pilot and not args.plan:
        raise ConfigError("--pilot: only with --plan (it plans a study from an earlier one's spread)")
    arms, reference = tuple(parse_arm(a) for a in args.arms), args.reference
    if args.ablate:
        load_arms(arms)  # the other arms load before the ablations are written into OUT
        ablated, full = _ablation_arms(args.ablate, args.out, arms)
        arms, reference = ablated + arms, reference or full
    options = CompareOptions(tasks=tuple(args.tasks), arms=arms, seeds=args.seeds,
                             budget=args.budget, out=args.out, run=_run_options(args), noise_runs=args.noise_runs,
                             noise_file=args.noise_file, parallel=args.parallel, detect=args.detect,
                             slurm=_slurm(args), prior=args.prior, reference=reference, pilot=args.pilot,
                             recipe_seeds=args.recipe_seeds)
    if args.plan:
        return _print_plan(run_plan(options), args.seeds)
    comparison = run_compare(options)
    for task, data in comparison["tasks"].items():
        for arm, d in data["arms"].items():
            print(f"{task} {arm}: {d['mean']:.3f} [{d['ci']['low']:.3f}, {d['ci']['high']:.3f}]"
                  f"{_call(data['paired'].get(arm))}", file=sys.stderr)
        if data.get("mde") is not None:
            print(f"{task}: minimum detectable difference {data['mde']:.3f} at {data['power']['seeds']} seeds",
                  file=sys.stderr)
        _print_recipes(task, data.get("recipes"))
    if not comparison["environment"]["same"]:
        from team.views.comparison import environment_line

        print(environment_line(comparison["environment"]).replace("**", ""), file=sys.stderr)
    print(json.dumps({"comparison": str(comparison["out"]) + "/comparison.md"}))
    return 0


def _ablation_arms(team_name: str, out: str, arms: tuple) -> tuple[tuple, str]:
    """The ablated teams' arms and the name of the full team's arm: an arm the command already names for the same
    team file (`--arm full=research --ablate research`) is the full team, otherwise an arm `full` is added."""
    from pathlib import Path

    from sandbox.errors import ConfigError
    from team.config.topology import load_team, resolve_team_path
    from team.studies.ablate import write_ablations
    from team.studies.arms import ArmSpec

    team = load_team(team_name)
    path = resolve_team_path(team_name).resolve()
    same = next((a for a in arms if a.kind == "team" and resolve_team_path(a.team).resolve() == path), None)
    taken = next((a for a in arms if a.name == "full"), None)
    if same is None and taken is not None:
        raise ConfigError(f"--ablate {team_name}: the arm named full runs {taken.team}, and --ablate adds the full "
                          f"team as an arm named full: rename that arm, or make it --arm full={team_name}")
    paths = write_ablations(team, Path(out).absolute() / "ablations")
    full = () if same else (ArmSpec("full", "team", team_name),)
    return full + tuple(ArmSpec(n, "team", str(p)) for n, p in paths.items()), same.name if same else "full"


def _print_plan(plan: dict, seeds: int) -> int:
    for task, p in plan.items():
        if "mde" in p:
            line = (f"{task}: noise sd {p['noise_sd']:.4f} over {p['noise_runs']} runs; with {seeds} seeds the "
                    f"minimum detectable difference is {p['mde']:.3f} (paired t, two-sided α {p['alpha']:g}, power "
                    f"{p['power']:g}, paired sd {p['paired_sd']:.4f} = √2 × noise sd)")
            if p.get("mde_range"):
                line += (f"; over {p['noise_runs']} runs the noise sd is known only within a 95% interval, which "
                         f"puts the MDE between {p['mde_range'][0]:.3f} and {p['mde_range'][1]:.3f}")
            print(line + _needs(p), file=sys.stderr)
        for arm, a in p.get("pilot", {}).get("arms", {}).items():
            line = (f"{task} {arm} vs {a['against']}: paired sd {a['diff_sd']:.4f} over {a['pilot_seeds']} seeds of "
                    f"{p['pilot']['source']}; with {seeds} seeds the minimum detectable difference is {a['mde']:.3f}")
            if a.get("mde_range"):
                line += f" (between {a['mde_range'][0]:.3f} and {a['mde_range'][1]:.3f} over that sd's 95% interval)"
            print(line + _needs(a), file=sys.stderr)
    print(json.dumps({"plan": plan}))
    return 0


def _needs(p: dict) -> str:
    if "detect" not in p:
        return ""
    need = p["seeds_for_detect"]
    return f"; a difference of {p['detect']:g} needs {need} seeds" if need else \
        f"; a difference of {p['detect']:g} is out of reach (over 100000 seeds)"


def cmd_noise(args: argparse.Namespace) -> int:
    from sandbox.errors import ConfigError
    from team.studies.noise import measure_noise

    if args.runs < 2:
        raise ConfigError("--runs: at least 2 runs to measure a spread")
    out = args.out or f"noise/{args.task}"
    noise = measure_noise(args.task, args.runs, out, _run_options(args), args.budget,
                          on_seed=lambda r: print(f"seed {r['seed']}: test {r['test']:.3f} dev {r['dev']}", file=sys.stderr),
                          say=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"{noise['task']}: test {noise['test']['mean']} ± {noise['test']['sd']} (sd), dev {noise['dev']['mean']} ± "
          f"{noise['dev']['sd']}; {plural(noise['failures'], 'failure')}; {out}/noise.json", file=sys.stderr)
    print(json.dumps({"noise": f"{out}/noise.json", "test_sd": noise["test"]["sd"], "dev_sd": noise["dev"]["sd"]}))
    return 0
