"""One set of CPU kernels everywhere (sandbox.kernels): torch in a cold job, in a warm job and in the harness (which
pre-trains the base models) runs AVX2 kernels on any x86-64 host that has AVX2, whatever wider units it also has,
so one config and seed train the same weights on two hosts. A variable the researcher sets wins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from sandbox.kernels import PIN, kernel_env
from tests.conftest_sandbox import LOCAL_KINDS, make_local, py_job, read_json

pytestmark = pytest.mark.skipif(not kernel_env({}), reason="the pin is for x86-64 hosts with AVX2")

KERNELS = """
    import json, os, torch
    json.dump({"cap": torch.backends.cpu.get_cpu_capability(), "mkl": os.environ.get("MKL_CBWR")}, open("out.json", "w"))
"""

TRAIN = """
    import hashlib, torch
    from torch import nn
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Embedding(97, 64), nn.LayerNorm(64), nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 97))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x = torch.randint(0, 97, (32, 24))
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x[:, :-1]).reshape(-1, 97), x[:, 1:].reshape(-1))
        loss.backward(); opt.step(); opt.zero_grad()
    print(hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest())
"""


@pytest.mark.parametrize("kind", LOCAL_KINDS)
async def test_every_job_runs_the_pinned_kernels_cold_warm_or_unisolated(tmp_path, kind):
    executor = make_local(kind, tmp_path / "runs")
    try:
        results = [await executor.wait(await executor.submit(py_job(KERNELS))) for _ in range(2)]
    finally:
        await executor.close()
    assert [r.status.value for r in results] == ["ok", "ok"], results[0].stderr_tail
    assert [read_json(r) for r in results] == [{"cap": "AVX2", "mkl": "AVX2"}] * 2


def _python(code: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in PIN}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          env={**base, **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_harness_runs_the_jobs_kernels_and_a_researchers_choice_wins():
    probe = "import sandbox, torch; print(torch.backends.cpu.get_cpu_capability())"
    assert _python(probe) == "AVX2"
    assert _python(probe, ATEN_CPU_CAPABILITY="default") == "DEFAULT"
    assert kernel_env({"ATEN_CPU_CAPABILITY": "default"}) == {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "AVX2"}


def test_the_kernels_torch_picks_change_the_weights_it_trains():
    """Why the pin: the same seed and steps under two kernel sets give two sets of weights."""
    avx2, default = _python(TRAIN, ATEN_CPU_CAPABILITY="avx2"), _python(TRAIN, ATEN_CPU_CAPABILITY="default")
    assert avx2 != default
    assert _python(TRAIN, ATEN_CPU_CAPABILITY="avx2") == avx2  # and one kernel set gives one set of weights
