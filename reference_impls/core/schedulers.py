"""Every diffusers scheduler the demos use, built from the training betas.

diffusers 0.42 can silently fall back to its own beta defaults when a
scheduler is built `from_config` of another (Heun did), so every scheduler is
built here from `SCHEDULE_CONFIG` (or, for a user's model, from its own
scheduler config: `base`) and a test checks each one's `alphas_cumprod`
against the training schedule. Timestep spacing differs
between schedulers ("leading" for DDPM/DDIM, "linspace" for the others);
`describe` states it on every row.
"""

from __future__ import annotations

import inspect
from typing import Optional

from .model import SCHEDULE_CONFIG

SOLVERS = ("ddim", "dpmsolver++", "unipc", "euler", "heun", "deis")
LABELS = {"ddpm": "DDPM ancestral", "ddim": "DDIM", "dpmsolver++": "DPM-Solver++(2M)", "unipc": "UniPC(bh2)",
          "euler": "Euler", "heun": "Heun", "deis": "DEIS(2)"}


def make_scheduler(name: str, spacing: str = "default", karras: bool = False, base: Optional[dict] = None):
    """A diffusers scheduler for `name`, built from the training schedule's own betas.

    `base` replaces the project's schedule (`SCHEDULE_CONFIG`) with another model's: a user's scheduler
    config reduced to `usermodel.SCHEDULER_KEYS` (betas, beta schedule, timestep count, prediction type)."""
    from diffusers import (DDIMScheduler, DDPMScheduler, DEISMultistepScheduler, DPMSolverMultistepScheduler,
                           EulerDiscreteScheduler, HeunDiscreteScheduler, UniPCMultistepScheduler)

    cfg = dict(SCHEDULE_CONFIG if base is None else base)
    extra: dict = {}
    if spacing != "default":
        extra["timestep_spacing"] = spacing
    if karras:
        if name in ("ddpm", "ddim"):
            raise ValueError(f"{name} has no Karras-sigma option in diffusers")
        extra["use_karras_sigmas"] = True
    classes = {"ddpm": (DDPMScheduler, {}), "ddim": (DDIMScheduler, {}),
               "dpmsolver++": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
               "unipc": (UniPCMultistepScheduler, {}), "euler": (EulerDiscreteScheduler, {}),
               "heun": (HeunDiscreteScheduler, {}), "deis": (DEISMultistepScheduler, {"solver_order": 2})}
    if name not in classes:
        raise ValueError(f"unknown solver {name!r}; use one of ddpm, {', '.join(SOLVERS)}")
    cls, own = classes[name]
    if base is not None:  # a user's config: only the settings this scheduler's constructor takes
        known = inspect.signature(cls.__init__).parameters
        cfg = {k: v for k, v in cfg.items() if k in known}
    return cls(**cfg, **own, **extra)


def expected_nfe(name: str, steps: int) -> int:
    """Network evaluations of `steps` steps: Heun's second-order steps cost two, minus the last."""
    return 2 * steps - 1 if name == "heun" else steps


def describe(sched) -> dict:
    c = sched.config
    return {"spacing": c.get("timestep_spacing", "n/a"), "clip_sample": bool(c.get("clip_sample", False)),
            "karras": bool(c.get("use_karras_sigmas", False))}
