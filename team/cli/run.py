"""`synthteam run` and `synthteam resume`: a team at work on a task, end to end."""

from __future__ import annotations

import argparse
import json
import os
import sys

from team.cli import count, duration

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a team on a task; the verifier scores the final model on the sealed test split",
                       description="Run a team (default: research) on a task (default: the first built-in task). "
                                   "Writes runs/<id>/ with manifest.json, events.jsonl, jobs/, final_model/, "
                                   "result.json, report.md and report.html.")
    p.add_argument("--team", default="research", help="a built-in team name or a team YAML path (default: research)")
    p.add_argument("--task", default="", help="a built-in task name or a task folder (default: the default task)")
    p.add_argument("--budget", help="a wall-clock duration (job-seconds scale with it), e.g. 3m, or key=value pairs: "
                                    "wall=3m,job_seconds=5m,tokens=100000,usd=1,model_calls=500")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", help="use this model for every agent (scripted, replay:FILE or a litellm model string)")
    p.add_argument("--api-base", help="an OpenAI-compatible server for litellm models, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address", dest="ray_address", help="the Ray cluster address (with --executor ray)")
    p.add_argument("--isolation", choices=["auto", "bwrap", "none"], default="auto",
                   help="auto: bubblewrap when it works here (required when an LLM writes the code), else none")
    p.add_argument("--no-isolation", dest="isolation", action="store_const", const="none",
                   help="run jobs without bubblewrap even when an LLM writes their code (recorded in the manifest "
                        "and result.json)")
    p.add_argument("--threads", dest="cpu_threads", type=int, default=1, help="CPU threads per job (default 1)")
    p.add_argument("--gpus", type=int, default=0, help="GPUs per job (default 0)")
    p.add_argument("--job-seconds", type=duration, help="the time limit of one recipe job, e.g. 90s or 5m "
                                                        "(default: the task's)")
    p.add_argument("--job-tokens", type=count, help="one job's horizon in training tokens, e.g. 1.8M: its schedule "
                   "ends there (default: the task's job_tokens; a task without one has no horizon)")
    p.add_argument("--record", metavar="FILE", help="record every model call into a cassette")
    p.add_argument("--replay", metavar="FILE", help="serve model calls from a cassette (strict)")
    p.add_argument("--out", help="the run directory (default runs/<time>-<team>-<task>-s<seed>)")
    p.add_argument("--prior", choices=["starter", "reference", "defaults", "none"], default="starter",
                   help="what every agent starts from: the constants of the task's starter train.py (default), its "
                        "reference recipe (a known good config: the team starts near the answer), its knob "
                        "defaults, or nothing")
    p.add_argument("--provider", choices=["hf", "vllm"], default=None,
                   help="the Inspect AI provider of every evaluation of a task scored by Inspect: hf (CPU or "
                        "GPU) or vllm (GPU, when installed); default: the task's own setting")
    p.add_argument("--clock", choices=["auto", "cpu", "wall"], default="auto",
                   help="what limits and charges a CPU job: cpu (the CPU-seconds of its cgroup: the same compute "
                        "alone and beside busy neighbours), wall (wall seconds), or auto (the default: cpu where "
                        "the cgroups count it; GPU and Ray jobs are on the wall clock)")
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("resume", help="continue a killed run without losing or repeating a finished job")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(handler=cmd_resume)


def cmd_run(args: argparse.Namespace) -> int:
    from team import RunOptions, start_run
    from team.engine.records.events import configure

    configure()
    if args.provider:  # read by tasks.load_task wherever this run loads its task (cells, resumes in-process)
        os.environ["SYNTHTEAM_PROVIDER"] = args.provider
    options = RunOptions(team=args.team, task=args.task, out=args.out, seed=args.seed, budget=args.budget,
                         model=args.model, api_base=args.api_base, executor=args.executor,
                         ray_address=args.ray_address, isolation=args.isolation, cpu_threads=args.cpu_threads,
                         gpus=args.gpus, job_seconds=args.job_seconds, job_tokens=args.job_tokens, record=args.record,
                         replay=args.replay, progress=not args.quiet, prior=args.prior, provider=args.provider,
                         clock=args.clock)
    return _finish(start_run(options))


def cmd_resume(args: argparse.Namespace) -> int:
    from team import resume_run
    from team.engine.records.events import configure

    configure()
    result = resume_run(args.run_dir)
    if result.get("finished_before"):
        print(f"{args.run_dir}: this run finished already; nothing to resume (its result stands)", file=sys.stderr)
    return _finish(result)


def _finish(result: dict) -> int:
    from team.views.units import budget_line, scripted_only

    flags = "; ".join(f"{f['flag']}: {f['reason']}" for f in result["flags"]) or "none"
    dev = f"{result['dev_score']:.3f}" if result.get("dev_score") is not None else "-"
    print(f"\nteam {result['team']} on {result['task']} (backend={','.join(result['backend'])}, prior "
          f"{result.get('prior', '-')}): test score {result['test_score']:.3f} vs baseline "
          f"{result['baseline_score']:.3f}; dev {dev}; flags: {flags}", file=sys.stderr)
    used, limits = result["budget_used"], result["budget_limits"]
    scripted = scripted_only(result.get("backend"))
    keys = [k for k in used if limits.get(k) and not (scripted and k in ("tokens", "usd"))]
    line = f"budget used: {budget_line(used, limits, keys=keys, clock=result.get('clock', 'wall'))}"
    if scripted and used.get("tokens"):
        line += f" (no model was called; an LLM would have been sent {used['tokens']:,.0f} prompt tokens)"
    print(line, file=sys.stderr)
    if result.get("final_node"):
        code = ", ".join(result.get("final_operators") or []) or "none (knob constants only)"
        print(f"tree: {result.get('tree_nodes', 0)} programs; the final model's is node {result['final_node']}, "
              f"code changes: {code} (its diff is in the report)", file=sys.stderr)
    print(f"report: {result.get('report', '')}", file=sys.stderr) if result.get("report") else None
    print(json.dumps({k: result.get(k) for k in ("run_id", "baseline_score", "test_score", "flags", "control")}),
          flush=True)
    print(result.get("control") or "", file=sys.stderr)  # the last line: who made the decisions
    return 0
