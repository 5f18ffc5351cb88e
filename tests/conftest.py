"""Suite-wide hooks: CPU tokens for parallel runs (tests/cpus.py), one xdist worker per module or group of
modules (their fixtures build once), and, with SYNTHTEAM_TEST_CPU_LOG=FILE, each test's wall and CPU seconds
as JSON lines (the figures behind the suite's time in LOG.md)."""

from __future__ import annotations

import json
import os
import resource
import time

import pytest

from tests.cpus import cpus

# Modules that share a session fixture too costly to build on every worker run on the same one.
_GROUPS = {
    "trained": ("test_roles_checks", "test_studies_dispatch", "test_tasks_recipe", "test_tasks_verifier"),
    "ray": ("test_sandbox_isolation", "test_sandbox_limits", "test_sandbox_ray", "test_studies_ray"),
}
_GROUP_OF = {module: group for group, modules in _GROUPS.items() for module in modules}
# Seconds each module (or group) took on one worker (SYNTHTEAM_TEST_CPU_LOG, 2026-12-02): the heaviest start
# first, so that the two workers end together (longest first); the rest follow in file order. xdist's own
# reordering (by the number of tests) left test_readme's 6 minutes for the end of one worker: 250 s apart.
_SECONDS = {"test_run": 389, "test_readme": 358, "trained": 283, "test_engine_session": 233,
            "test_roles_operators": 180, "test_studies_compare": 172, "test_tasks_hf": 150,
            "test_cheats_in_a_team": 118, "test_studies_arms": 115, "test_tasks_arith": 99, "test_run_llm": 92,
            "test_tasks_solution_run": 86, "test_tasks_ptb": 81, "ray": 80, "test_tasks_inspect": 73,
            "test_llm_personas": 64}


def pytest_configure(config):
    config.addinivalue_line("markers", "cpus(n): the test needs n cores at once (two jobs that must overlap): "
                                       "a parallel run pins it to the cores of n CPU tokens (tests/cpus.py)")


def _group(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
    return _GROUP_OF.get(module, module)


def pytest_collection_modifyitems(session, config, items):
    """The heaviest modules first (a stable sort: each module keeps its own order)."""
    items.sort(key=lambda item: -_SECONDS.get(_group(item.nodeid), 0))


@pytest.hookimpl(optionalhook=True)  # only with pytest-xdist
def pytest_xdist_make_scheduler(config, log):
    """Whole modules (or groups of modules sharing a costly session fixture) to one worker each. xdist's own
    loadgroup cannot do it under pytest 9: it renames items by their `_nodeid`, which pytest 9 no longer reads."""
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # the collection's order is the one to keep (heaviest first)

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return ByGroup(config, log)


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outermost: waiting for tokens is not the test's time
def pytest_runtest_protocol(item, nextitem):
    mark = item.get_closest_marker("cpus")
    n = int(mark.args[0]) if mark and mark.args else 1
    log = os.environ.get("SYNTHTEAM_TEST_CPU_LOG")
    wall, cpu = time.monotonic(), _cpu()
    with cpus(n):
        waited = time.monotonic() - wall
        yield
    if log:
        row = {"test": item.nodeid, "wall": round(time.monotonic() - wall, 2), "waited": round(waited, 2),
               "cpu": round(_cpu() - cpu, 2), "cpus": n, "worker": os.environ.get("PYTEST_XDIST_WORKER"),
               "end": round(time.time(), 2)}
        with open(log, "a") as handle:
            handle.write(json.dumps(row) + "\n")
