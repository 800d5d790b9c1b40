"""What a result records about where it ran: git revision, device, machine, library versions."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Optional

import torch


# Outputs a benchmark writes into the checkout; they do not make the code that ran differ from the revision.
OUTPUTS = ("benchmarks/results", "benchmarks/grids", "benchmarks/report-cpu.md", "benchmarks/report-cuda.md")


def git_revision() -> Optional[str]:
    """The checkout's short revision, with '+dirty' when tracked source files differ from it."""
    here = Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5).stdout.strip()

    try:
        rev, top = git("rev-parse", "--short", "HEAD"), git("rev-parse", "--show-toplevel")
        if not rev:
            return None
        dirty = git("-C", top, "status", "--porcelain", "--untracked-files=no", "--", ".",
                    *(f":(exclude){p}" for p in OUTPUTS))
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {cpu_name()} ({os.cpu_count()} cores)"


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what platform knows)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return cpu


def versions() -> dict:
    import diffusers
    import numpy as np
    import sklearn

    return {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
            "scikit-learn": sklearn.__version__, "numpy": np.__version__, "platform": platform.platform()}


def machine_info() -> dict:
    """The machine a run executed on (a shared results file says whose runs it holds)."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"hostname": socket.gethostname(), "platform": platform.platform(),
            "processor": cpu_name(),
            "cpu_count": os.cpu_count(), "gpu": gpu}
