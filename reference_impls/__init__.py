"""Runnable reference implementations of efficient-diffusion techniques.

One module per technique family (solvers, scheduling, truncated, distillation),
sharing a substrate (`substrate.py`), quality metrics (`metrics.py`), a
measuring harness (`harness.py`) and a registry (`registry.py`) through which
the CLI, the app and the benchmark find every demo.
"""
