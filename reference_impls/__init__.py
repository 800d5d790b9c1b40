"""Runnable reference implementations of efficient-diffusion techniques.

    core/       the substrate, the harness, the metrics and statistics, the typed result (no demo owns it)
    sampling/   efficient sampling: solvers, scheduling, truncated, distillation
    registry.py DEMO_MODULES, the one list of demos; get_demo(), run_demo()
    train.py    python -m reference_impls.train teacher|classifier|students|all
    weights/    committed checkpoints with their sidecars

A demo imports only `core`, never another demo and never `diffatlas`. To add
one, copy the shape of `sampling/solvers.py`, put it in its family folder,
add it to that folder's index and to `registry.DEMO_MODULES`.
"""
