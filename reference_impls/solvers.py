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
    the median wall time over seeds, the share of time spent outside the
    network, FD-digits (mean and seed-to-seed std over the noise seeds),
    classifier confidence and class coverage. Baselines, in the same run:
    the full-cost baseline is ancestral DDPM over `baseline_steps` (all 1,000
    training steps in the full configuration); the equal-cost baseline for
    each solver is DDIM at the same step count. Timestep spacing differs
    between schedulers in diffusers ("leading" for DDPM/DDIM, "linspace" for
    the others); it is stated on every row and can be forced with `spacing`.

Catalog papers: denoising-diffusion-probabilistic-models-2020,
denoising-diffusion-implicit-models-2021, score-sde-2021, dpm-solver-2022,
dpm-solver-plus-plus-2022, unipc-2023, deis-2023,
elucidating-design-space-diffusion-2022.
"""

from __future__ import annotations

import torch

from . import harness, metrics, substrate
from .registry import Demo, Param, RunContext

SOLVERS = ("ddim", "dpmsolver++", "unipc", "euler", "heun", "deis")
LABELS = {"ddpm": "DDPM ancestral", "ddim": "DDIM", "dpmsolver++": "DPM-Solver++(2M)", "unipc": "UniPC(bh2)",
          "euler": "Euler", "heun": "Heun", "deis": "DEIS(2)"}


def make_scheduler(name: str, spacing: str = "default", karras: bool = False):
    """A diffusers scheduler for `name`, built from the training schedule's own betas."""
    from diffusers import (DDIMScheduler, DDPMScheduler, DEISMultistepScheduler, DPMSolverMultistepScheduler,
                           EulerDiscreteScheduler, HeunDiscreteScheduler, UniPCMultistepScheduler)

    cfg = dict(substrate.SCHEDULE_CONFIG)
    extra: dict = {}
    if spacing != "default":
        extra["timestep_spacing"] = spacing
    if karras:
        if name in ("ddpm", "ddim"):
            raise ValueError(f"{name} has no Karras-sigma option in diffusers")
        extra["use_karras_sigmas"] = True
    if name == "ddpm":
        sched = DDPMScheduler(**cfg, **extra)
    elif name == "ddim":
        sched = DDIMScheduler(**cfg, **extra)
    elif name == "dpmsolver++":
        sched = DPMSolverMultistepScheduler(**cfg, algorithm_type="dpmsolver++", solver_order=2, **extra)
    elif name == "unipc":
        sched = UniPCMultistepScheduler(**cfg, **extra)
    elif name == "euler":
        sched = EulerDiscreteScheduler(**cfg, **extra)
    elif name == "heun":
        sched = HeunDiscreteScheduler(**cfg, **extra)
    elif name == "deis":
        sched = DEISMultistepScheduler(**cfg, solver_order=2, **extra)
    else:
        raise ValueError(f"unknown solver {name!r}; use one of ddpm, {', '.join(SOLVERS)}")
    return sched


def expected_nfe(name: str, steps: int) -> int:
    return 2 * steps - 1 if name == "heun" else steps


def describe(sched) -> dict:
    c = sched.config
    return {"spacing": c.get("timestep_spacing", "n/a"), "clip_sample": bool(c.get("clip_sample", False)),
            "karras": bool(c.get("use_karras_sigmas", False))}


def solver_method(name: str, steps: int, spacing: str = "default", role: str = "technique", label: str = "",
                  karras: bool = False) -> harness.Method:
    probe = make_scheduler(name, spacing, karras)

    def fn(noise, seed, net):
        sched = make_scheduler(name, spacing, karras)
        gen = torch.Generator(device=noise.device).manual_seed(seed + 7)
        return harness.sample(net, sched, noise, steps=steps, generator=gen)

    info = {"solver": name, "steps": steps, **describe(probe)}
    return harness.Method(label or f"{LABELS[name]} {steps}", fn, expected_nfe(name, steps), role, info)


def run(params: dict, ctx: RunContext) -> dict:
    device, progress = ctx.device, ctx.progress
    progress.stage(0.0, 0.05).report(0.0, "loading the substrate model")
    model, source = substrate.load_teacher(device=device)
    harness.warm_up(model, device, params["batch"])
    n, seeds, batch = params["n_samples"], list(range(params["seeds"])), params["batch"]
    methods = [solver_method("ddpm", params["baseline_steps"], role="baseline",
                             label=f"DDPM ancestral {params['baseline_steps']}")]
    for steps in params["steps"]:
        for name in params["solvers"]:
            role = "equal-cost" if name == "ddim" else "technique"
            methods.append(solver_method(name, steps, params["spacing"], role))
    weights = [m.expected_nfe for m in methods]
    total, done, rows = sum(weights), 0, []
    for m, w in zip(methods, weights):
        progress.stage(0.05 + 0.9 * done / total, 0.05 + 0.9 * (done + w) / total)
        rows.append(harness.measure(m, model, n, seeds, device, batch, progress, ctx.out_dir / "grids"))
        done += w
    progress.stage(0.95, 1.0).report(0.0, "scoring")
    baseline = methods[0].label
    harness.compare(rows, baseline)
    notes = []
    for steps in params["steps"]:
        ddim = next((r for r in rows if r.get("solver") == "ddim" and r["steps"] == steps), None)
        for r in rows:
            if r.get("steps") != steps or r["role"] != "technique":
                continue
            notes.append(harness.verdict(r, rows[0], f" [full-cost baseline; {r['speedup']:.1f}x faster]"))
            if ddim is not None:
                nfe_note = "" if r["nfe"] == ddim["nfe"] else f" (NB: {r['nfe']:.0f} NFE vs DDIM's {ddim['nfe']:.0f})"
                notes.append(harness.verdict(r, ddim, " [equal-cost baseline: DDIM, same steps]" + nfe_note))
    anchors = metrics.anchors(n)
    return {
        "rows": rows,
        "baseline": baseline,
        "equal_cost": "DDIM at the same number of steps",
        "anchors": anchors,
        "notes": notes,
        "chart": {"x": ["nfe", "wall_s"], "y": "fd"},
        **harness.provenance(rows, model, source),
    }


DEMO = Demo(
    id="solvers",
    title="ODE/SDE solvers: DDIM, DPM-Solver++, UniPC, Euler, Heun, DEIS vs ancestral DDPM",
    summary="Swap diffusers schedulers on one trained model with the same initial noise; quality vs NFE and wall time.",
    nodes=("shen2025:algorithm.sampling.solver", "ulhaq2022:eds.formulation.sde", "ma2024:part5.ode_solvers",
           "ma2024:part5.sde_solvers"),
    papers=("denoising-diffusion-probabilistic-models-2020", "denoising-diffusion-implicit-models-2021",
            "score-sde-2021", "dpm-solver-2022", "dpm-solver-plus-plus-2022", "unipc-2023", "deis-2023",
            "elucidating-design-space-diffusion-2022"),
    params=(
        Param("n_samples", "int", 200, 1000, "samples per seed (FD needs many; its floor depends on it)", 50, 5000),
        Param("seeds", "int", 2, 3, "noise seeds (the spread between them is the noise level)", 1, 10),
        Param("batch", "int", 200, 500, "batch size per network call", 1, 4096),
        Param("steps", "ints", [10], [5, 10, 20], "solver step counts (comma-separated)", 1, 1000),
        Param("solvers", "strs", list(SOLVERS), list(SOLVERS), "solvers to compare", choices=SOLVERS),
        Param("baseline_steps", "int", 100, 1000, "steps of the ancestral DDPM baseline (1000 = every training step)",
              10, 1000),
        Param("spacing", "str", "default", "default", "timestep spacing for the solvers ('default' = each library default)",
              choices=("default", "linspace", "leading", "trailing")),
    ),
    run=run,
    module=__name__,
    quick_seconds=60,
    full_seconds=3300,
)
