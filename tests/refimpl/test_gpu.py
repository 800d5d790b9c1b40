"""What runs on a GPU: one demo end to end on CUDA (skipped without one), and the GPU check's install list."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_solvers_smoke_runs_on_cuda(tmp_path, monkeypatch, dtype):
    from diffatlas import demos

    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    result = demos.run_and_record("solvers", "quick", demos.get_demo("solvers").smoke, device="cuda", dtype=dtype,
                                  record=False, out_dir=tmp_path / "run")
    assert result.device_type == "cuda" and result.dtype == dtype
    assert all(r.peak_mem_kind.startswith("CUDA allocator") and r.peak_mem_mb > 0 for r in result.rows)
    assert result.checks["nfe_counted_equals_expected"] and result.comparisons


def _names(lines) -> set[str]:
    out = set()
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            out.add(re.split(r"[<>=!~ \[]", line)[0].lower().replace("_", "-"))
    return out


def test_gpu_requirements_are_the_demo_dependencies_of_pyproject():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        pytest.skip("tomllib needs Python 3.11")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = _names(project["dependencies"]) | _names(project["optional-dependencies"]["demos"])
    gpu = _names((REPO / "benchmarks" / "gpu-requirements.txt").read_text().splitlines())
    assert gpu <= declared, f"gpu-requirements.txt names packages pyproject.toml does not: {gpu - declared}"
    assert "torch" not in gpu and "streamlit" not in gpu
    assert {"diffusers", "scikit-learn", "safetensors"} <= gpu
