"""Device, thread count and precision: chosen once per run, checked, and recorded.

* `pick_device("auto" | "cpu" | "cuda" | "cuda:N" | "mps")`: CUDA when present,
  else the CPU; a device this machine does not have is a one-line
  `DeviceError` naming what is available, never a traceback later.
* `set_threads()`: a fixed torch CPU thread count, the machine's cores unless
  $DIFFATLAS_THREADS says otherwise, returned so every result records it.
  (An earlier load-based heuristic picked different counts in runs minutes
  apart and made identical runs differ six-fold; a fixed, recorded count
  keeps runs comparable, and interleaved repeats spread a burst of load.)
* `DTYPES`: the precisions a run can use through autocast (`--dtype`).
"""

from __future__ import annotations

import os
import re
from typing import Optional

import torch

from .spec import ParamError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(ParamError):
    """The requested device does not exist here."""


def pick_device(requested: Optional[str] = None) -> torch.device:
    """CUDA if present, else CPU; `requested` ("cpu", "cuda", "cuda:1", "mps") overrides and is checked."""
    name = (requested or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", name):
        raise DeviceError(f"device {requested!r} is not known; use auto, cpu, cuda, cuda:N or mps")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {requested!r} requested but torch {torch.__version__} sees no CUDA GPU here; "
                              "use --device cpu (or auto)")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"device {requested!r} requested but only {count} CUDA device(s) exist "
                              f"(cuda:0..cuda:{count - 1})")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError(f"device {requested!r} requested but this torch build has no MPS (Apple GPU) support here; "
                          "use --device cpu (or auto)")
    return device


def thread_count() -> int:
    """$DIFFATLAS_THREADS if set (a positive integer), else the machine's cores."""
    wanted = os.environ.get("DIFFATLAS_THREADS", "").strip()
    if not wanted:
        return os.cpu_count() or 1
    if not wanted.isdigit() or int(wanted) < 1:
        raise ParamError(f"DIFFATLAS_THREADS={wanted!r} is not a positive integer; unset it or give e.g. 2")
    return int(wanted)


def set_threads() -> int:
    """Fix torch's CPU thread count for this run and return it (recorded in every result)."""
    n = thread_count()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
