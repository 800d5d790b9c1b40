"""Solvers: fewer, larger, more accurate steps on the same trained model.

The technique
    A diffusion model is trained on a 1,000-step noising chain. Ancestral
    sampling (DDPM, Ho et al. 2020) walks the whole chain back, one network
    evaluation (NFE) per step. The reverse process can instead be read as the
    probability-flow ODE (or the reverse SDE) of Song et al. (score SDE, 2021)
    and integrated with a proper numerical solver that takes ten or twenty
    large steps:

    * DDIM (Song, Meng & Ermon 2021): the first-order deterministic step,
      equivalent to Euler on the ODE in the (sigma, x/alpha) variables;
    * DPM-Solver / DPM-Solver++ (Lu et al. 2022): exact integration of the
      linear part of the ODE plus a multistep (here second-order)
      approximation of the data prediction;
    * UniPC (Zhao et al. 2023): a unified predictor-corrector that adds a
      corrector at no extra NFE;
    * DEIS (Zhang & Chen 2023): exponential integrator with polynomial
      extrapolation of past evaluations;
    * Euler and Heun in the Karras/EDM parameterisation (Karras et al. 2022);
      Heun is second order and costs two NFE per step (minus one).

    All of them are diffusers schedulers. The demo builds every one of them
    from the exact beta schedule the model was trained with (a test checks
    that every scheduler's alphas_cumprod equals the training schedule's:
    diffusers 0.42 can otherwise fall back to its own defaults), swaps them on
    one trained model, and feeds them the same initial noise.

What is measured
    For each solver and step count: NFE (counted by wrapping the network),
    FLOPs per sample, the median per-sample time over interleaved repeats,
    FD and KID in the digits classifier's feature space, classifier
    confidence and class coverage; every difference paired over the shared
    noise seeds, with a 95% interval. Baselines, in the same run:
    the full-cost baseline is ancestral DDPM over `baseline_steps` (all 1,000
    training steps in the full configuration); the equal-cost baseline for
    each solver is DDIM at the same step count. Timestep spacing differs
    between schedulers in diffusers ("leading" for DDPM/DDIM, "linspace" for
    the others); it is stated on every row and can be forced with `spacing`.
    `backbone=dit` runs every solver on the tiny diffusion transformer
    (`core/dit.py`, trained on the same data and schedule) instead of the U-Net.

With your own model (`--model DIR`, `core/usermodel.py`)
    The same solvers and baselines run on your network, every scheduler built
    from your scheduler config (betas, beta schedule, timestep count,
    prediction type); `backbone`, `width` and `image_size` do not apply (the
    sample shape is your model's). There is no digits classifier, so quality
    is agreement: each solver's PSNR and SSIM against the full-cost output
    from the same noise, and the paired PSNR/SSIM difference against DDIM at
    the same steps (higher is better). The full-cost baseline there is DDIM
    at `baseline_steps` (the probability-flow ODE solved finely), not
    ancestral DDPM: DDPM adds fresh noise at every step, so its output from
    the same initial noise is another sample, and agreement with it would
    measure that noise, not a solver's error.

Catalog papers: denoising-diffusion-probabilistic-models-2020,
denoising-diffusion-implicit-models-2021, score-sde-2021, dpm-solver-2022,
dpm-solver-plus-plus-2022, unipc-2023, deis-2023,
elucidating-design-space-diffusion-2022.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..core import harness
from ..core.schedulers import LABELS, SOLVERS, describe, expected_nfe, make_scheduler
from ..core.spec import Demo, Param, RunContext, common
from ..core.dit import dit_for
from ..core.training import teacher_for
from ..core.usermodel import check_steps, model_for


def _check_model(params: dict, folder) -> None:
    if params["backbone"] != "unet":
        from ..core.spec import ParamError

        raise ParamError("parameter 'backbone': with your own model (--model) the solvers run on it; leave backbone=unet")
    check_steps(params, folder, "steps", "baseline_steps")


def solver_method(name: str, steps: int, spacing: str = "default", role: str = "technique", label: str = "",
                  karras: bool = False, base: Optional[dict] = None) -> harness.Method:
    """Sample with diffusers scheduler `name` in `steps` steps (a fresh scheduler per batch); `base`: a user
    model's scheduler config instead of the project's training schedule."""
    probe = make_scheduler(name, spacing, karras, base)

    def fn(noise, seed, net):
        gen = torch.Generator(device=noise.device).manual_seed(seed + 7)
        return harness.sample(net, make_scheduler(name, spacing, karras, base), noise, steps=steps, generator=gen)

    return harness.Method(label or f"{LABELS[name]} {steps}", fn, expected_nfe(name, steps), role,
                          extra={"solver": name, "steps": steps, **describe(probe)})


def run(params: dict, ctx: RunContext):
    # 1. model: the U-Net teacher, the tiny DiT, or the user's model (with its own scheduler config)
    model, info, base, notes = model_for(ctx, params, dit_for if params["backbone"] == "dit" else teacher_for)
    # 2. methods: the full-cost ancestral chain; per step count DDIM (equal cost) and every other solver
    full = (solver_method("ddpm", params["baseline_steps"], role="full-cost",
                          label=f"DDPM ancestral {params['baseline_steps']}") if base is None else
            solver_method("ddim", params["baseline_steps"], role="full-cost",  # the ODE solved finely (see docstring)
                          label=f"DDIM {params['baseline_steps']} (full cost)", base=base))
    methods = [full]
    for steps in params["steps"]:
        for name in params["solvers"]:
            methods.append(solver_method(name, steps, params["spacing"], "equal-cost" if name == "ddim" else "technique",
                                         base=base))
    # 3. measure, all in one run, repeats interleaved
    measured = harness.measure_all(methods, model, ctx, params)
    # 4. verdicts: every solver against the full chain and against DDIM at the same steps
    comparisons = []
    for m in methods:
        if m.role != "technique":
            continue
        comparisons += measured.compare(m.label, full.label)
        ddim = f"DDIM {m.extra['steps']}"
        if "ddim" in params["solvers"]:
            nfe_note = "" if m.nfe == m.extra["steps"] else f"NB: {m.nfe:.0f} NFE vs DDIM's {m.extra['steps']}"
            comparisons += measured.compare(m.label, ddim, nfe_note)
    # 5. result
    if base is not None and base.get("clip_sample", True):
        notes.append(f"your scheduler config clips the x0 estimate (clip_sample, range "
                     f"{base.get('clip_sample_range', 1.0)}): DDIM and DDPM apply it, the other solvers do not, so "
                     "where your model's x0 estimates leave that range they follow another trajectory than the DDIM "
                     "reference and agree less with it")
    return harness.result(measured, comparisons, params, model=info, notes=notes,
                          equal_cost="DDIM at the same number of steps")


def _check(params: dict) -> None:
    if params["backbone"] == "dit" and (params["width"] != 1 or params["image_size"] != 16):
        from ..core.spec import ParamError

        raise ParamError("parameter 'backbone': the tiny DiT exists only at the default scale; use width=1 and "
                         "image_size=16 with backbone=dit")
    if params["baseline_steps"] < max(params["steps"]):
        from ..core.spec import ParamError

        raise ParamError(f"parameter 'baseline_steps': {params['baseline_steps']} is fewer than the largest solver "
                         f"step count {max(params['steps'])}; the full-cost baseline must cost the most")


DEMO = Demo(
    id="solvers",
    title="ODE/SDE solvers: DDIM, DPM-Solver++, UniPC, Euler, Heun, DEIS vs ancestral DDPM",
    summary="Swap diffusers schedulers on one trained model with the same initial noise; quality vs NFE and wall time.",
    nodes=("shen2025:algorithm.sampling.solver", "ulhaq2022:eds.formulation.sde", "ma2024:part5.ode_solvers",
           "ma2024:part5.sde_solvers"),
    papers=("denoising-diffusion-probabilistic-models-2020", "denoising-diffusion-implicit-models-2021",
            "score-sde-2021", "dpm-solver-2022", "dpm-solver-plus-plus-2022", "unipc-2023", "deis-2023",
            "elucidating-design-space-diffusion-2022"),
    params=common(n_samples=(200, 1000), seeds=(5, 5)) + (
        Param(name="steps", type=int, many=True, quick=[10], full=[5, 10, 20], lo=1, hi=1000,
              help="solver step counts (comma-separated)"),
        Param(name="solvers", type=str, many=True, quick=["ddim", "dpmsolver++", "unipc"], full=list(SOLVERS),
              choices=SOLVERS, help="solvers to compare (DDIM is the equal-cost baseline)"),
        Param(name="baseline_steps", type=int, quick=50, full=1000, lo=10, hi=1000,
              help="steps of the ancestral DDPM full-cost baseline (1000 = every training step)"),
        Param(name="spacing", type=str, quick="default", full="default",
              choices=("default", "linspace", "leading", "trailing"),
              help="timestep spacing for the solvers ('default' = each library default)"),
        Param(name="backbone", type=str, quick="unet", full="unet", choices=("unet", "dit"),
              help="the network the solvers run on: the U-Net teacher or the tiny DiT (core/dit.py)"),
    ),
    run=run,
    check=_check,
    accepts_model=True,
    model_check=_check_model,
    smoke=dict(n_samples=64, seeds=2, steps=[4], solvers=["ddim", "dpmsolver++", "heun"], baseline_steps=20),
    module=__name__,
    quick_seconds=55,
    full_seconds=2780,
)
