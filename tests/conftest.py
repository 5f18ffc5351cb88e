"""Suite-wide hooks: CPU tokens for parallel runs (tests/cpus.py), one xdist worker per module (a module's
fixtures build once), and, with SYNTHTEAM_TEST_CPU_LOG=FILE, each test's wall and CPU seconds as JSON lines
(the figures behind the suite's time in LOG.md)."""

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


def pytest_configure(config):
    config.addinivalue_line("markers", "cpus(n): the test trains to a threshold in fixed wall time on n cores: "
                                       "a parallel run gives it n of the machine's CPU tokens (tests/cpus.py)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:  # xdist's loadgroup reads these (its own hook runs after this one)
        if not item.get_closest_marker("xdist_group"):
            module = item.module.__name__.rsplit(".", 1)[-1]
            item.add_marker(pytest.mark.xdist_group(_GROUP_OF.get(module, module)))


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
        yield
    if log:
        row = {"test": item.nodeid.split("@")[0], "wall": round(time.monotonic() - wall, 2),
               "cpu": round(_cpu() - cpu, 2), "cpus": n, "worker": os.environ.get("PYTEST_XDIST_WORKER")}
        with open(log, "a") as handle:
            handle.write(json.dumps(row) + "\n")
