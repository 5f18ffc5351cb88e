"""Bad input on the command line, as a new user types it: one line naming the problem and the fix, exit 2,
no traceback and nothing left behind in the folder the command ran from. Also the wording of the
answers (durations with units everywhere, `schema` without an argument, the arm names compare takes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
MANY_GPUS = "4096"  # more than any machine this runs on has: the refusal is the same with or without GPUs


def synthteam(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "team.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=120, cwd=cwd)


def refused(proc: subprocess.CompletedProcess, cwd: Path, *says: str, lines: int = 1, keep: tuple = ()) -> str:
    """Exit 2, `lines` lines on stderr saying each of `says`, no traceback, nothing new in `cwd`."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == lines, err
    for text in says:
        assert text in err, err
    assert sorted(p.name for p in cwd.iterdir()) == sorted(keep), list(cwd.iterdir())
    return err


@pytest.mark.parametrize("argv", [("job", "run", "--gpus", MANY_GPUS, "--", "true"),
                                  ("compare", "--task", "reverse", "--arm", "solo", "--gpus", MANY_GPUS),
                                  ("noise", "--task", "reverse", "--gpus", MANY_GPUS)], ids=["job", "compare", "noise"])
def test_more_gpus_than_the_machine_has_is_refused_before_any_job(tmp_path, argv):
    """job run: a ValueError traceback from the slots; compare and noise: the noise floor's folders first."""
    proc = synthteam(tmp_path, *argv)
    refused(proc, tmp_path, f"--gpus {MANY_GPUS}: this machine has", "a job would wait for one forever")


def test_solution_run_with_more_gpus_than_the_machine_has_is_refused_before_any_job(tmp_path):
    assert synthteam(tmp_path, "task", "starter", "reverse", "sol").returncode == 0
    proc = synthteam(tmp_path, "solution", "run", "sol", "--task", "reverse", "--gpus", MANY_GPUS)
    refused(proc, tmp_path, f"--gpus {MANY_GPUS}: this machine has", keep=("sol",))


def test_verify_refuses_a_missing_model_or_workspace_instead_of_scoring_nothing(tmp_path):
    proc = synthteam(tmp_path, "verify", "nosuch", "--task", "reverse")
    refused(proc, tmp_path, "nosuch:1: no such model folder", "runs/<id>/final_model")
    (tmp_path / "model").mkdir()
    proc = synthteam(tmp_path, "verify", "model", "--task", "reverse", "--workspace", "nosuchws")
    refused(proc, tmp_path, "nosuchws:1: no such workspace folder", "leave out --workspace", keep=("model",))
    (tmp_path / "weights.bin").write_bytes(b"\0")
    proc = synthteam(tmp_path, "verify", "weights.bin", "--task", "reverse", "--workspace", "gone")
    refused(proc, tmp_path, "weights.bin:1: a file, not a model folder", "gone:1: no such workspace folder", lines=2,
            keep=("model", "weights.bin"))


@pytest.mark.parametrize("arm, says", [
    ("nosuch", "--arm nosuch: no such arm (give a built-in team: "),
    ("x=nosuch", "--arm x=nosuch: no such arm"),
    ("x=bad.yaml", "bad.yaml:3: YAML error"),
    ("x=missing.yaml", "missing.yaml:1: no such file"),
])
def test_compare_plan_loads_every_arm_before_the_noise_floor(tmp_path, arm, says):
    """Before the fix `--plan` ran the reference recipe for the noise floor first (minutes), then printed an
    MDE for arms that could never run."""
    (tmp_path / "bad.yaml").write_text("name: x\nagents: [\n")
    proc = synthteam(tmp_path, "compare", "--plan", "--task", "reverse", "--arm", "solo", "--arm", arm,
                     "--noise-runs", "2", "--out", "cmp")
    refused(proc, tmp_path, says, keep=("bad.yaml",))
    assert "noise floor" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("extra", [(), ("--plan", "--noise-runs", "2"), ("--ablate", "research")],
                         ids=["compare", "plan", "ablate"])
def test_compare_refuses_an_unknown_arm_by_name_and_writes_nothing(tmp_path, extra):
    """With --ablate the ablation team files were written into OUT before the other arms were loaded."""
    proc = synthteam(tmp_path, "compare", "--task", "reverse", "--arm", "solo", "--arm", "nosuch", "--out", "cmp",
                     *extra)
    refused(proc, tmp_path, "--arm nosuch: no such arm")


def test_schema_without_an_argument_names_the_choices(tmp_path):
    proc = synthteam(tmp_path, "schema")
    err = refused(proc, tmp_path, "schema: name the schema to print: team")
    assert "required: what" not in err
    assert json.loads(synthteam(tmp_path, "schema", "team").stdout)["title"].startswith("synthteam team file")


@pytest.mark.parametrize("extra, says", [(("--recipe-seeds", "-1"), "--recipe-seeds -1: 0 (off) or more seeds"),
                                         (("--recipe-seeds", "2", "--executor", "ray", "--address", "127.0.0.1:1"),
                                          "--recipe-seeds: recipes are trained on this machine")],
                         ids=["negative", "ray"])
def test_compare_refuses_recipe_seeds_it_cannot_score_before_anything_runs(tmp_path, extra, says):
    proc = synthteam(tmp_path, "compare", "--task", "reverse", "--arm", "solo", "--out", "cmp", *extra)
    refused(proc, tmp_path, says)


@pytest.mark.parametrize("argv, dest", [
    (["run", "--job-seconds", "{}"], "job_seconds"),
    (["compare", "--task", "reverse", "--job-seconds", "{}"], "job_seconds"),
    (["noise", "--task", "reverse", "--job-seconds", "{}"], "job_seconds"),
    (["solution", "run", "sol", "--task", "reverse", "--seconds", "{}"], "seconds"),
])
def test_every_time_flag_takes_units(argv, dest):
    from team.cli import build_parser

    for text, seconds in (("1s", 1.0), ("90", 90.0), ("2m", 120.0), ("1.5h", 5400.0)):
        args = build_parser().parse_args([a.format(text) for a in argv])
        assert getattr(args, dest) == seconds, (argv, text)


@pytest.mark.parametrize("value, says", [("1x", "unknown duration unit 'x'"), ("0", "duration must be positive"),
                                         ("soon", "")])
def test_a_bad_duration_is_an_argument_error_that_names_units(tmp_path, value, says):
    proc = synthteam(tmp_path, "run", "--job-seconds", value, "--out", "r")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("synthteam run: error: argument --job-seconds: ") and says in last, last
    assert "invalid float value" not in proc.stderr and list(tmp_path.iterdir()) == []


def test_the_arm_names_in_compare_help_are_the_ones_that_work():
    """The built-in sampler team is `tpe`; `optuna` stays as another name for it."""
    from roles.library import team_files
    from team.cli import build_parser
    from team.studies.arms import parse_arm

    parser = build_parser()._subparsers._group_actions[0].choices["compare"]
    text = " ".join(parser.format_help().split())
    assert "`optuna` is another name for tpe" in text and text.count("optuna") == 1, text
    assert "tpe search" in build_parser().format_help()
    for name in team_files():
        arm = parse_arm(name)
        assert (arm.name, arm.kind, arm.team) == (name, "team", name)
    assert parse_arm("optuna").team == "tpe" and parse_arm("best-of-k=2").k == 2


def test_the_cpu_clock_where_it_cannot_hold_is_refused_before_anything_is_written(tmp_path):
    """Jobs on Ray (and GPU jobs) are limited by wall seconds: asking for the CPU clock there is one line."""
    proc = synthteam(tmp_path, "run", "--task", "reverse", "--executor", "ray", "--clock", "cpu", "--out", "r")
    refused(proc, tmp_path, "--clock cpu: jobs on Ray run on the wall clock; use --clock wall")


def _noise_file(tmp_path: Path) -> str:
    """A noise floor for reverse as `synthteam noise` writes it (only what --plan reads)."""
    root = Path(__file__).resolve().parents[1]
    data = json.loads((root / "docs/studies/2026-12-04-arith-hf-evals/noise.json").read_text())
    (tmp_path / "noise.json").write_text(json.dumps({**data, "task": "reverse"}))
    return "noise.json"


def test_the_readme_study_command_with_ablate_runs_its_full_team_once(tmp_path):
    """The README's study names the research team `full` and says the same command with `--ablate research` adds
    the ablations; it was refused ("arm names must be unique": --ablate added a second arm named full)."""
    noise = _noise_file(tmp_path)
    proc = synthteam(tmp_path, "compare", "--task", "reverse", "--arm", "full=research", "--arm", "solo",
                     "--seeds", "5", "--noise", noise, "--reference", "solo", "--out", "cmp", "--plan",
                     "--ablate", "research")
    assert proc.returncode == 0, proc.stderr
    assert "reverse" in json.loads(proc.stdout)["plan"]
    assert sorted(p.stem for p in (tmp_path / "cmp" / "ablations").iterdir()) == [
        "research-no-critic", "research-no-editor", "research-one-engineer"]


def test_ablate_uses_the_arm_that_already_runs_the_team_as_the_full_team(tmp_path):
    from team.cli.compare import _ablation_arms
    from team.studies.arms import parse_arm

    arms = (parse_arm("team=research"), parse_arm("solo"))
    ablated, full = _ablation_arms("research", str(tmp_path / "cmp"), arms)
    assert full == "team" and [a.name for a in ablated] == ["no-critic", "no-editor", "one-engineer"]
    ablated, full = _ablation_arms("research", str(tmp_path / "cmp"), (parse_arm("solo"),))
    assert full == "full" and [a.name for a in ablated] == ["full", "no-critic", "no-editor", "one-engineer"]


def test_ablate_beside_an_arm_named_full_that_runs_another_team_is_one_line(tmp_path):
    proc = synthteam(tmp_path, "compare", "--task", "reverse", "--arm", "full=solo", "--out", "cmp",
                     "--ablate", "research")
    refused(proc, tmp_path, "--ablate research: the arm named full runs solo", "rename that arm")


@pytest.mark.parametrize("name, warned", [("synthteam", True), ("other", False)])
def test_a_command_run_in_another_synthteam_checkout_says_whose_code_runs(tmp_path, name, warned):
    """A study started in a git worktree with the main checkout's installation ran the main checkout's code
    (jobs and the verifier import the installed package): the command says so before it runs."""
    clone = tmp_path / "worktree"
    (clone / "docs").mkdir(parents=True)
    (clone / ".git").write_text("gitdir: /elsewhere\n")  # what a worktree has
    (clone / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n')
    proc = synthteam(clone / "docs", "schema", "team")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("warning: this synthteam runs the code in")]
    assert len(lines) == int(warned), proc.stderr
    if warned:
        assert str(clone.resolve()) in lines[0] and str(Path(__file__).resolve().parents[1]) in lines[0], lines[0]


def test_a_command_run_in_its_own_checkout_or_outside_any_says_nothing_of_checkouts(tmp_path):
    for cwd in (tmp_path, Path(__file__).resolve().parents[1]):
        proc = synthteam(cwd, "schema", "team")
        assert proc.returncode == 0 and "checkout" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("argv", [["run"], ["compare", "--task", "reverse"], ["noise", "--task", "reverse"]])
def test_job_tokens_takes_units_and_a_bad_count_is_one_argument_error(tmp_path, argv):
    from team.cli import build_parser

    assert build_parser().parse_args([*argv, "--job-tokens", "1.8M"]).job_tokens == 1_800_000
    assert build_parser().parse_args(argv).job_tokens is None
    proc = synthteam(tmp_path, *argv, "--job-tokens", "1.8Q", "--out", "r")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"synthteam {argv[0]}: error: argument --job-tokens: unknown count unit 'q' in '1.8Q'"), last
    assert list(tmp_path.iterdir()) == []
