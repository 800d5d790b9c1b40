"""The core every demo stands on; no demo owns any of it, and it imports no demo and no diffatlas.

The substrate
    Small data that ships with a package (`data.py`: scikit-learn's digits,
    upsampled; 2-D toys), a tiny diffusers UNet with its noise schedule at a
    chosen scale (`model.py`), every diffusers scheduler built from the
    training betas (`schedulers.py`), a trainer and the teacher every demo
    starts from (`training.py`), and a checkpoint store keyed by config hash
    that prefers the committed weights (`checkpoints.py`, `paths.py`).

The measurement
    `harness.py` (one method loop: warm-up, FLOPs and batch-1 latency,
    interleaved repeats, NFE counting, scores), `metrics.py` (FD and KID on
    live classifier features, their anchors), `stats.py` (paired bootstrap and
    verdicts), `result.py` (the typed result every reader reads), `spec.py`
    (parameters, demos, run context), `device.py` (device, threads,
    precision), `progress.py`, `environment.py`.

This package imports nothing heavy at import time; import its modules.
"""
