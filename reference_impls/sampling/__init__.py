"""Efficient sampling (shen2025 algorithm.sampling): fewer or cheaper network evaluations.

* `solvers`      shen2025:algorithm.sampling.solver: DDIM, DPM-Solver++, UniPC, DEIS, Euler, Heun vs ancestral DDPM
* `scheduling`   shen2025:algorithm.sampling.scheduling: which timesteps at a fixed NFE (spacings, Karras, optimised)
* `truncated`    shen2025:algorithm.sampling.truncated: early stop from a cheap prior; trajectory retrieval (ReDi)
* `distillation` shen2025:algorithm.sampling.distillation: progressive distillation students at 8/4/2/1 steps

`solvers.py` is the template for a new demo: the three-part docstring, the
technique, the `*_method` factories, `run()` in numbered paragraphs, `DEMO` last.
"""
