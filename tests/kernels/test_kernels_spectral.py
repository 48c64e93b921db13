"""Runs kernels_spectral_cases.py in a fresh interpreter: with ``TRITON_INTERPRET=1`` on CPU (Triton reads
it at import, and an xdist worker may already have imported Triton natively), natively with
``--device cuda``. The child's per-case report is shown on failure.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

CASES = Path(__file__).with_name("kernels_spectral_cases.py")


@pytest.mark.xdist_group("triton_interp")
def test_spectral_kernels_vs_reference(request):
    device = request.config.getoption("--device")
    env = dict(os.environ)
    if device == "cpu":
        env["TRITON_INTERPRET"] = "1"
    else:
        env.pop("TRITON_INTERPRET", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", "-p", "no:xdist",
           str(CASES), "--device", device, "-W", "ignore::RuntimeWarning", "-W", "ignore::UserWarning"]
    proc = subprocess.run(cmd, cwd=CASES.parents[2], env=env, capture_output=True, text=True, timeout=900)
    report = proc.stdout[-12000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, report
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, report
