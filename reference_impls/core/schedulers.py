"""Every diffusers scheduler the demos use, built from the training betas.

diffusers 0.42 can silently fall back to its own beta defaults when a
scheduler is built `from_config` of another (Heun did), so every scheduler is
built here from `SCHEDULE_CONFIG` and a test checks each one's
`alphas_cumprod` against the training schedule. Timestep spacing differs
between schedulers ("leading" for DDPM/DDIM, "linspace" for the others);
`describe` states it on every row.
"""

from __future__ import annotations

from .model import SCHEDULE_CONFIG

SOLVERS = ("ddim", "dpmsolver++", "unipc", "euler", "heun", "deis")
LABELS = {"ddpm": "DDPM ancestral", "ddim": "DDIM", "dpmsolver++": "DPM-Solver++(2M)", "unipc": "UniPC(bh2)",
          "euler": "Euler", "heun": "Heun", "deis": "DEIS(2)"}


def make_scheduler(name: str, spacing: str = "default", karras: bool = False):
    """A diffusers scheduler for `name`, built from the training schedule's own betas."""
    from diffusers import (DDIMScheduler, DDPMScheduler, DEISMultistepScheduler, DPMSolverMultistepScheduler,
                           EulerDiscreteScheduler, HeunDiscreteScheduler, UniPCMultistepScheduler)

    cfg = dict(SCHEDULE_CONFIG)
    extra: dict = {}
    if spacing != "default":
        extra["timestep_spacing"] = spacing
    if karras:
        if name in ("ddpm", "ddim"):
            raise ValueError(f"{name} has no Karras-sigma option in diffusers")
        extra["use_karras_sigmas"] = True
    if name == "ddpm":
        return DDPMScheduler(**cfg, **extra)
    if name == "ddim":
        return DDIMScheduler(**cfg, **extra)
    if name == "dpmsolver++":
        return DPMSolverMultistepScheduler(**cfg, algorithm_type="dpmsolver++", solver_order=2, **extra)
    if name == "unipc":
        return UniPCMultistepScheduler(**cfg, **extra)
    if name == "euler":
        return EulerDiscreteScheduler(**cfg, **extra)
    if name == "heun":
        return HeunDiscreteScheduler(**cfg, **extra)
    if name == "deis":
        return DEISMultistepScheduler(**cfg, solver_order=2, **extra)
    raise ValueError(f"unknown solver {name!r}; use one of ddpm, {', '.join(SOLVERS)}")


def expected_nfe(name: str, steps: int) -> int:
    """Network evaluations of `steps` steps: Heun's second-order steps cost two, minus the last."""
    return 2 * steps - 1 if name == "heun" else steps


def describe(sched) -> dict:
    c = sched.config
    return {"spacing": c.get("timestep_spacing", "n/a"), "clip_sample": bool(c.get("clip_sample", False)),
            "karras": bool(c.get("use_karras_sigmas", False))}
