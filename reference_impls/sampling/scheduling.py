"""Sampling scheduling: at a fixed budget of network evaluations, which timesteps?

The technique
    A few-step solver visits only a handful of the 1,000 training timesteps,
    and which ones it visits matters as much as the solver. diffusers offers
    three spacings of the same uniform grid ("linspace": from 999 down to ~0
    inclusive; "leading": multiples of 1000/N starting at 0, so the first
    step starts below 999; "trailing": multiples ending at 999) and the
    Karras et al. (EDM, 2022) sigmas, spaced uniformly in sigma^(1/rho) with
    rho = 7, which crowd the steps at low noise. "Align Your Steps" (Sabour et
    al. 2024) and "optimized time steps" (Xue et al. 2024) instead *optimise*
    the schedule for a given model, solver and budget.

    Here the optimised schedule is found on the substrate itself, in their
    spirit but with a simpler objective: coordinate descent over the integer
    timesteps, minimising the mean squared distance between the few-step
    solution and a many-step solution of the same ODE from the same
    calibration noise (AYS minimises an upper bound on the KL divergence
    between the discretised and the true process; both aim at the schedule
    whose discretisation error is smallest). Calibration noise seeds are
    disjoint from the evaluation seeds. Results are cached on disk.

What is measured
    For one solver (DPM-Solver++(2M) by default): FD and KID at the fixed NFE
    for every schedule, paired against the default "linspace" grid (the
    equal-cost baseline) and against the same solver at `ref_steps` steps
    (the full-cost reference); and over a sweep of NFE the smallest budget
    at which each schedule's mean FD reaches the quality target (within
    `target_ratio` of the reference's).

With your own model (`--model DIR`, `core/usermodel.py`)
    Every schedule runs on your network with schedulers built from your
    scheduler config; the optimised schedule is searched on your model (and
    cached under a key that includes your weights' hash and schedule).
    Quality is agreement with the `ref_steps` reference's output from the
    same noise (PSNR and SSIM, higher is better), and the quality target is
    a PSNR of `target_psnr` dB.

Catalog papers: align-your-steps-2024, optimized-time-steps-2024,
elucidating-design-space-diffusion-2022, dpm-solver-plus-plus-2022,
learning-efficiently-sample-diffusion-2021.
"""

from __future__ import annotations

import json
import time
from typing import Optional

import torch

from ..core import harness
from ..core.checkpoints import config_hash
from ..core.paths import cache_dir
from ..core.schedulers import LABELS, describe, make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import teacher_for
from ..core.usermodel import check_steps, model_for

SCHEDULES = ("linspace", "leading", "trailing", "karras", "optimised")


def schedule_method(solver: str, schedule: str, nfe: int, timesteps=None, role: str = "technique",
                    grid: bool = True, base: Optional[dict] = None) -> harness.Method:
    """`solver` over `schedule`'s timesteps at `nfe`; `base`: a user model's scheduler config."""
    if schedule == "optimised":
        def fn(noise, seed, net):
            return harness.sample(net, make_scheduler(solver, base=base), noise, timesteps=timesteps)
        info = {"schedule": schedule, "timesteps": list(timesteps), "spacing": "optimised (custom timesteps)"}
    else:
        spacing = "linspace" if schedule == "karras" else schedule
        karras = schedule == "karras"

        def fn(noise, seed, net):
            return harness.sample(net, make_scheduler(solver, spacing, karras, base), noise, steps=nfe)
        probe = make_scheduler(solver, spacing, karras, base)
        probe.set_timesteps(nfe)
        info = {"schedule": schedule, "timesteps": [int(round(float(t))) for t in probe.timesteps],
                **describe(probe)}
    return harness.Method(f"{schedule} {nfe}", fn, nfe, role, extra=dict(info, nfe_budget=nfe, solver=solver),
                          grid=grid)


@torch.no_grad()
def optimise_schedule(model, model_key: str, solver: str, nfe: int, ref_steps: int, n_cal: int, sweeps: int, candidates: int,
                      device, size: int, progress=None, base: Optional[dict] = None) -> tuple[list[int], dict]:
    """Coordinate descent on integer timesteps against a many-step solution (cached on disk)."""
    key = config_hash("schedule", model_key, solver, nfe, ref_steps, n_cal, sweeps, candidates,
                      *([base] if base is not None else []))
    path = cache_dir("schedules") / f"{key}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            return data["timesteps"], dict(data["info"], cached=True)
        except (OSError, ValueError, KeyError):
            pass
    started = time.perf_counter()
    net = harness.CountingModel(model, progress)
    shape = harness.sample_shape(model, size) if base is not None else None
    noise = harness.make_noise(n_cal, 987654, device, size, shape)  # calibration seed, disjoint from evaluation seeds
    target = harness.sample(net, make_scheduler(solver, base=base), noise, steps=ref_steps)

    def loss(ts):
        out = harness.sample(net, make_scheduler(solver, base=base), noise, timesteps=ts)
        return float(((out - target) ** 2).mean())

    probe = make_scheduler(solver, base=base)
    probe.set_timesteps(nfe)
    ts = [int(t) for t in probe.timesteps]
    best = loss(ts)
    start_loss = best
    fractions = [(i + 1) / (candidates + 1) for i in range(candidates)]
    total = sweeps * (nfe - 1)
    done = 0
    for _ in range(sweeps):
        for i in range(1, nfe):
            hi = ts[i - 1] - 1
            lo = ts[i + 1] + 1 if i + 1 < nfe else 0
            for f in fractions:
                cand = int(round(hi - f * (hi - lo)))
                if cand == ts[i] or not lo <= cand <= hi:
                    continue
                trial = ts[:i] + [cand] + ts[i + 1:]
                value = loss(trial)
                if value < best:
                    best, ts = value, trial
            done += 1
            if progress:
                progress.report(done / total, f"optimising the {nfe}-step schedule: {done}/{total}, mse {best:.5f}")
    info = {"mse_start": start_loss, "mse_end": best, "seconds": time.perf_counter() - started,
            "calibration_samples": n_cal, "sweeps": sweeps, "candidates": candidates, "ref_steps": ref_steps,
            "optimiser_nfe_calls": net.calls, "cached": False}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"timesteps": ts, "info": info}))
    return ts, info


def run(params: dict, ctx: RunContext):
    progress, solver, nfe = ctx.progress, params["solver"], params["nfe"]
    sweep = sorted(set(params["nfe_sweep"]) | {nfe})
    schedules = list(params["schedules"])
    # 1. model
    progress.stage(0.0, 0.02)
    model, info, base, user_notes = model_for(ctx, params, teacher_for)
    # 2. the optimised schedules (cached on disk), found on calibration noise disjoint from the evaluation seeds
    optimised: dict[int, tuple] = {}
    if "optimised" in schedules:
        budgets = [nfe] + ([k for k in sweep if k != nfe] if params["optimise_sweep"] else [])
        for i, k in enumerate(budgets):
            progress.stage(0.02 + 0.25 * i / len(budgets), 0.02 + 0.25 * (i + 1) / len(budgets))
            optimised[k] = optimise_schedule(model, info["key"], solver, k, params["ref_steps"], params["calibration"],
                                             params["sweeps"], params["candidates"], ctx.device,
                                             params["image_size"], progress, base)
    # 3. methods: the many-step reference, then every schedule at every budget (linspace = equal cost)
    ref = schedule_method(solver, "linspace", params["ref_steps"], role="full-cost", base=base)
    ref.label = f"reference {LABELS[solver]} {params['ref_steps']}"
    methods = [ref]
    for k in sweep:
        for s in schedules:
            if s == "optimised" and k not in optimised:
                continue
            methods.append(schedule_method(solver, s, k, optimised.get(k, (None,))[0],
                                           "equal-cost" if s == "linspace" else "technique", grid=k == nfe, base=base))
    # 4. measure
    measured = harness.measure_all(methods, model, ctx, params)
    # 5. verdicts at the fixed budget: every schedule against linspace (equal cost) and the reference (full cost)
    comparisons = []
    for s in schedules:
        label = f"{s} {nfe}"
        if s == "linspace" or not any(m.label == label for m in methods):
            continue
        if "linspace" in schedules:
            comparisons += measured.compare(label, f"linspace {nfe}")
        comparisons += measured.compare(label, ref.label)
    # 6. the NFE each schedule needs to reach the quality target, and how the optimised schedules were found
    reach, notes = quality_target(measured, schedules, ref.label, params)
    notes += user_notes
    for k, (ts, how) in sorted(optimised.items()):
        found = ("cached" if how.get("cached") else
                 f"{how['seconds']:.1f}s, {how['optimiser_nfe_calls']} network calls on "
                 f"{how['calibration_samples']} calibration samples")
        notes.append(f"optimised {k}-step schedule {ts}: trajectory MSE {how['mse_start']:.5f} -> "
                     f"{how['mse_end']:.5f} ({found})")
    return harness.result(measured, comparisons, params, model=info, notes=notes,
                          tables={"NFE needed to reach the quality target": reach},
                          equal_cost="the same solver with the default linspace grid at the same NFE")


def quality_target(measured, schedules: list[str], ref_label: str, params: dict) -> tuple[list[dict], list[str]]:
    """The NFE each schedule needs to reach the target: FD within `target_ratio` of the reference's, or on a
    user's model a PSNR of at least `target_psnr` against the reference's output from the same noise."""
    fidelity = measured.fidelity
    if fidelity:
        target = params["target_psnr"]
        reached = lambda r: r.psnr is not None and r.psnr >= target  # noqa: E731
        note = f"quality target: mean PSNR >= {target:.1f} dB against the {params['ref_steps']}-step reference"
    else:
        target = measured.row(ref_label).fd * params["target_ratio"]
        reached = lambda r: r.fd <= target  # noqa: E731
        note = (f"quality target: mean FD <= {target:.1f} ({params['target_ratio']:.2f} x the {params['ref_steps']}"
                f"-step reference's {measured.row(ref_label).fd:.1f}")
    reach = []
    for s in schedules:
        rows = [r for r in measured.rows if r.extra.get("schedule") == s and r.method != ref_label]
        ok = [r.nfe for r in rows if reached(r)]
        reach.append({"schedule": s, "nfe_to_target": min(ok, default=None),
                      "nfe_tried": ",".join(str(int(r.nfe)) for r in sorted(rows, key=lambda r: r.nfe))})
    return reach, [f"solver {LABELS[params['solver']]}; {note}; point estimates)" if not fidelity else
                   f"solver {LABELS[params['solver']]}; {note} (point estimates)"]


def _check_model(params: dict, folder) -> None:
    check_steps(params, folder, "nfe", "nfe_sweep", "ref_steps")


def _check(params: dict) -> None:
    if params["ref_steps"] <= max(params["nfe_sweep"] + [params["nfe"]]):
        raise ParamError(f"parameter 'ref_steps': {params['ref_steps']} must exceed every budget tried "
                         f"(nfe and nfe_sweep, up to {max(params['nfe_sweep'] + [params['nfe']])})")


DEMO = Demo(
    id="scheduling",
    title="Timestep schedules at a fixed NFE: uniform/leading/trailing, Karras sigmas, an optimised (AYS-style) schedule",
    summary="Same solver, same noise, same budget; only the visited timesteps change. Also: NFE each schedule needs to reach a quality target.",
    nodes=("shen2025:algorithm.sampling.scheduling", "ulhaq2022:eps.scheduling", "ma2024:part5.trajectory"),
    papers=("align-your-steps-2024", "optimized-time-steps-2024", "elucidating-design-space-diffusion-2022",
            "dpm-solver-plus-plus-2022", "learning-efficiently-sample-diffusion-2021"),
    params=common(n_samples=(200, 1000), seeds=(5, 5)) + (
        Param(name="solver", type=str, quick="dpmsolver++", full="dpmsolver++", choices=("dpmsolver++", "euler"),
              help="solver (custom timesteps need DPM-Solver++ or Euler)"),
        Param(name="nfe", type=int, quick=6, full=6, lo=2, hi=100, help="the fixed budget of network evaluations"),
        Param(name="nfe_sweep", type=int, many=True, quick=[4], full=[4, 6, 8, 10, 15], lo=2, hi=200,
              help="budgets tried for the quality target"),
        Param(name="schedules", type=str, many=True, quick=list(SCHEDULES), full=list(SCHEDULES), choices=SCHEDULES,
              help="schedules to compare"),
        Param(name="ref_steps", type=int, quick=25, full=100, lo=10, hi=1000,
              help="steps of the full-cost reference (same solver, linspace)"),
        Param(name="target_ratio", type=float, quick=1.25, full=1.1, lo=1.0, hi=10.0,
              help="quality target: FD within this factor of the reference"),
        Param(name="target_psnr", type=float, quick=30.0, full=30.0, lo=1.0, hi=100.0,
              help="quality target on your own model (--model): PSNR in dB against the reference's same-noise output"),
        Param(name="calibration", type=int, quick=64, full=128, lo=8, hi=4096,
              help="calibration samples for the optimised schedule"),
        Param(name="sweeps", type=int, quick=1, full=2, lo=1, hi=20, help="coordinate-descent sweeps"),
        Param(name="candidates", type=int, quick=4, full=4, lo=1, hi=32,
              help="candidate positions per timestep and sweep"),
        Param(name="optimise_sweep", type=bool, quick=False, full=True,
              help="also optimise a schedule for every NFE in the sweep"),
    ),
    run=run,
    check=_check,
    accepts_model=True,
    model_check=_check_model,
    smoke=dict(n_samples=64, seeds=2, nfe=4, nfe_sweep=[3], ref_steps=12, calibration=16, schedules=["linspace", "karras", "optimised"]),
    module=__name__,
    quick_seconds=40,
    full_seconds=960,
)
