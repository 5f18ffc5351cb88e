"""`synthteam compare` end to end on a tiny budget: real solo runs and a real random search on add3,
the noise floor measured, the three output files written; rerunning resumes without re-running a
finished cell, and a search cell killed before its result continues from its events."""

import json

import pytest

from team import RunOptions
from team.engine.records.events import read_events
from team.studies.arms import parse_arm
from team.studies.compare import CompareOptions, run_compare

pytestmark = pytest.mark.slow
BUDGET = "wall=30s,job_seconds=24s"


def _options(out, **kw):
    return CompareOptions(tasks=("add3",), arms=(parse_arm("solo"), parse_arm("random")), seeds=2, budget=BUDGET,
                          out=str(out), run=RunOptions(job_seconds=12.0, progress=False), **kw)


def _started(cell):
    return [r["key"] for r in read_events(cell / "events.jsonl") if r["event"] == "job_started"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    lines = []
    comparison = run_compare(_options(out, noise_runs=2), say=lines.append)
    return out, comparison, lines


def test_compare_writes_the_three_files_with_the_expected_keys(compared):
    out, comparison, lines = compared
    for name in ("comparison.json", "comparison.md", "comparison.html"):
        assert (out / name).exists(), name
    saved = json.loads((out / "comparison.json").read_text())
    task = saved["tasks"]["add3"]
    assert set(task["arms"]) == {"solo", "random"} and saved["reference_arm"] == "solo"
    for arm in task["arms"].values():
        assert {"mean", "ci", "sd", "n", "dev_test_gap", "failures", "seeds"} <= set(arm)
        assert arm["ci"]["low"] <= arm["mean"] <= arm["ci"]["high"]
        for row in arm["seeds"].values():
            assert {"test_score", "dev_score", "baseline_score", "flags", "budget_used", "curve"} <= set(row)
    diff = task["paired"]["random"]
    assert diff["call"] in ("win", "loss", "tie") and len(diff["diffs"]) == 2
    assert task["noise"]["runs"] == 2 and task["noise"]["test_sd"] is not None
    assert (out / "noise" / "add3" / "noise.json").exists()
    assert sum("add3 solo s" in line for line in lines) >= 2  # progress per cell
    assert "| random |" in (out / "comparison.md").read_text()


def test_every_arm_had_the_same_budget_according_to_its_ledger(compared):
    out, comparison, _ = compared
    budget = comparison["tasks"]["add3"]["budget"]
    assert budget["matched"], budget["problems"]
    for arm in ("solo", "random"):
        for seed in (0, 1):
            result = json.loads((out / "cells" / "add3" / arm / f"s{seed}" / "result.json").read_text())
            assert result["budget_limits"]["job_seconds"] == pytest.approx(24.0)
            assert result["budget_used"]["job_seconds"] <= 24.0 * 1.05
            assert result["test_score"] >= 0.0


def test_rerunning_the_comparison_does_not_rerun_finished_cells(compared):
    out, _, _ = compared
    cells = sorted((out / "cells").glob("add3/*/s*/result.json"))
    before = {p: p.stat().st_mtime_ns for p in cells}
    lines = []
    run_compare(_options(out, noise_runs=2), say=lines.append)
    assert {p: p.stat().st_mtime_ns for p in cells} == before
    assert sum("done earlier, not run again" in line for line in lines) == 4


def test_a_search_cell_without_a_result_resumes_without_repeating_jobs(compared):
    out, _, _ = compared
    cell = out / "cells" / "add3" / "random" / "s0"
    old = json.loads((cell / "result.json").read_text())
    started = _started(cell)
    (cell / "result.json").unlink()
    lines = []
    run_compare(_options(out, noise_runs=2), say=lines.append)
    new = json.loads((cell / "result.json").read_text())
    assert any("random s0: resuming" in line for line in lines)
    assert _started(cell) == started  # the finished jobs were reused, none ran twice
    assert new["dev_score"] == old["dev_score"] and new["final_members"] == old["final_members"]
    assert new["budget_used"]["job_seconds"] == pytest.approx(old["budget_used"]["job_seconds"])



def test_cells_run_seed_by_seed_so_a_stopped_study_has_every_arm_on_the_same_seeds(tmp_path):
    from team.studies.compare import plan_cells

    arms = (parse_arm("solo"), parse_arm("random"), parse_arm("tpe"))
    cells, _ = plan_cells(CompareOptions(tasks=("add3",), arms=arms, seeds=2, budget=BUDGET, out=str(tmp_path),
                                         run=RunOptions(progress=False)), tmp_path)
    assert [(c.arm.name, c.seed) for c in cells] == [("solo", 0), ("random", 0), ("tpe", 0),
                                                     ("solo", 1), ("random", 1), ("tpe", 1)]
    assert len({c.run_dir for c in cells}) == 6


def test_within_a_seed_the_arms_whose_cells_took_longest_start_first(tmp_path):
    import json

    from team.studies.compare import plan_cells

    for arm, walls in (("solo", [300.0, 320.0]), ("tpe", [900.0, 1500.0, 1400.0])):  # random has not run
        for seed, wall in enumerate(walls):
            cell = tmp_path / "cells" / "add3" / arm / f"s{seed}"
            cell.mkdir(parents=True)
            (cell / "result.json").write_text(json.dumps({"budget_used": {"wall": wall, "job_seconds": 300.0}}))
    arms = (parse_arm("solo"), parse_arm("random"), parse_arm("tpe"))
    cells, _ = plan_cells(CompareOptions(tasks=("add3",), arms=arms, seeds=4, budget=BUDGET, out=str(tmp_path),
                                         run=RunOptions(progress=False)), tmp_path)
    # the slowest arm (and the one never run) no longer ends the study alone; seed by seed still holds
    assert [(c.arm.name, c.seed) for c in cells[-3:]] == [("random", 3), ("tpe", 3), ("solo", 3)]
    assert [c.seed for c in cells] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_the_comparison_says_every_cell_ran_in_one_environment(compared):
    from sandbox.host import environment

    out, comparison, _ = compared
    env = comparison["environment"]
    assert env["same"] and env["unknown"] == [] and len(env["environments"][0]["cells"]) == 4
    assert env["environments"][0]["environment"]["versions"] == environment()["versions"]
    md = (out / "comparison.md").read_text()
    torch_version = environment()["versions"]["torch"]
    assert "Environment: every cell ran on synthteam " in md and f"torch {torch_version}" in md


@pytest.fixture(scope="module")
def recipes(compared):
    """The same comparison again with --recipe-seeds 2: the cells are read back, their final recipes trained."""
    out, _, _ = compared
    lines = []
    comparison = run_compare(_options(out, noise_runs=2, recipe_seeds=2), say=lines.append)
    return out, comparison, lines


def test_recipe_seeds_pair_the_arms_on_each_final_recipe_trained_on_shared_seeds(recipes):
    from team.studies.recipes import SOUP_SEED_STRIDE

    out, comparison, lines = recipes
    section = json.loads((out / "comparison.json").read_text())["tasks"]["add3"]["recipes"]
    assert section["seeds"] == 2 and set(section["arms"]) == {"solo", "random"}
    assert section["mde"] is not None and "/ √2" in section["power"]["basis"]  # planned from the floor / √K
    assert len(section["paired"]["random"]["diffs"]) == 2 and section["paired"]["random"]["against"] == "solo"
    scored = {}
    for arm, data in section["arms"].items():
        for seed, cell in data["cells"].items():
            result = json.loads((out / "cells" / "add3" / arm / f"s{seed}" / "result.json").read_text())
            if cell["recipe"] is None:  # no final model: the cell keeps its model's score, and says why
                assert cell["why"] and cell["score"] == result["test_score"]
                continue
            assert len(cell["scores"]) == 2 and cell["score"] == pytest.approx(sum(cell["scores"]) / 2)
            assert cell["what"] and f"`{cell['recipe'][:8]}` {cell['what']} (" in (out / "comparison.md").read_text()
            scored.setdefault(cell["recipe"], []).append(cell["scores"])
    assert scored, "no cell had a recipe to train"
    for key, rows in scored.items():
        folder = out / "recipes" / "add3" / key
        for k in (0, 1):  # every recipe trained on the same seeds: k for one model, k + 1000 i for soup member i
            verdict = json.loads((folder / f"s{k}.json").read_text())
            assert verdict["member_seeds"] == [k + i * SOUP_SEED_STRIDE for i in range(len(verdict["status"]))]
        assert all(r == rows[0] for r in rows)  # cells that returned one recipe share its scores
    assert sorted(p.name for p in (out / "recipes" / "add3").iterdir()) == sorted(scored)  # no job left behind
    cells = {arm: data["cells"] for arm, data in section["arms"].items()}
    same = all(cells["random"][s]["recipe"] is not None and cells["random"][s]["recipe"] == cells["solo"][s]["recipe"]
               for s in cells["solo"])
    verdict = section["paired"]["random"]["verdict"]
    assert verdict.startswith("the same recipe in every pair") if same else verdict.split(":")[0] in ("tie", "win", "loss")
    assert any(line.startswith("recipes of add3:") for line in lines)
    md = (out / "comparison.md").read_text()
    assert "### Recipes on shared seeds" in md and "| random |" in md.split("### Recipes on shared seeds")[1]
    assert 'alt="recipe scores per cell"' in (out / "comparison.html").read_text()


def test_rerunning_with_recipe_seeds_reads_the_scored_recipes_back(recipes):
    out, first, _ = recipes
    verdicts = sorted((out / "recipes").glob("add3/*/s*.json"))
    before = {p: p.stat().st_mtime_ns for p in verdicts}
    lines = []
    again = run_compare(_options(out, noise_runs=2, recipe_seeds=2), say=lines.append)
    assert {p: p.stat().st_mtime_ns for p in verdicts} == before
    assert not any(line.startswith("recipes of add3:") for line in lines)
    assert again["tasks"]["add3"]["recipes"]["arms"] == first["tasks"]["add3"]["recipes"]["arms"]


def test_a_cell_s_recipe_is_its_final_solution_with_the_seed_blanked(compared, tmp_path):
    import shutil

    from tasks.solutions import constants, set_constants
    from team.studies.recipes import Recipe, cell_recipe, describe

    out, _, _ = compared
    cell = out / "cells" / "add3" / "solo" / "s0"
    result = json.loads((cell / "result.json").read_text())
    recipe, why = cell_recipe(cell, result)
    assert why is None and [constants(m)["SEED"] for m in recipe.seeded(3)] == [3] * len(recipe.members)
    job = result["final_members"][0]
    node = next(r["node"] for r in read_events(cell / "events.jsonl") if r.get("job_id") == job and r.get("node"))
    trained = constants(__import__("tasks").load_solution(cell / "tree" / node))
    assert {k: v for k, v in constants(recipe.members[0]).items() if k != "SEED"} == \
        {k: v for k, v in trained.items() if k != "SEED"}
    moved = Recipe(tuple(set_constants(m, {"lr": 0.0123}) for m in recipe.members))
    assert describe(moved, {**result, "final_operators": ["ema"]}, "add3").startswith("lr 0.0123")
    assert describe(moved, {**result, "final_operators": ["ema"]}, "add3").endswith(", ema")
    assert cell_recipe(cell, {**result, "flags": [{"flag": "decoy"}]}) == (None, "flagged by the verifier")
    assert cell_recipe(cell, {**result, "final_members": []}) == (None, "no final model")
    copy = tmp_path / "cell"
    shutil.copytree(cell, copy, ignore=shutil.ignore_patterns("tree"))
    recipe, why = cell_recipe(copy, result)
    assert recipe is None and "solution is not in" in why
