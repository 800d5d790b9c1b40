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
    For one solver (DPM-Solver++(2M) by default): FD-digits at the fixed NFE
    for every schedule (the default "linspace" grid is the equal-cost
    baseline), the same solver at `ref_steps` steps as the full-cost
    reference, and over a sweep of NFE the smallest budget at which each
    schedule reaches the quality target (FD within `target_ratio` of the
    reference's).

Catalog papers: align-your-steps-2024, optimized-time-steps-2024,
elucidating-design-space-diffusion-2022, dpm-solver-plus-plus-2022,
learning-efficiently-sample-diffusion-2021.
"""

from __future__ import annotations

import json
import time

import torch

from . import harness, metrics, substrate
from .registry import Demo, Param, RunContext
from .solvers import LABELS, describe, make_scheduler

SCHEDULES = ("linspace", "leading", "trailing", "karras", "optimised")


def schedule_method(solver: str, schedule: str, nfe: int, timesteps=None, role: str = "technique") -> harness.Method:
    if schedule == "optimised":
        def fn(noise, seed, net):
            return harness.sample(net, make_scheduler(solver), noise, timesteps=timesteps)
        info = {"schedule": schedule, "timesteps": list(timesteps), "spacing": "optimised (custom timesteps)"}
    else:
        spacing = "linspace" if schedule == "karras" else schedule
        karras = schedule == "karras"

        def fn(noise, seed, net):
            return harness.sample(net, make_scheduler(solver, spacing, karras), noise, steps=nfe)
        probe = make_scheduler(solver, spacing, karras)
        probe.set_timesteps(nfe)
        info = {"schedule": schedule, "timesteps": [int(round(float(t))) for t in probe.timesteps],
                **describe(probe)}
    return harness.Method(f"{schedule} {nfe}", fn, nfe, role, dict(info, nfe_budget=nfe, solver=solver))


@torch.no_grad()
def optimise_schedule(model, solver: str, nfe: int, ref_steps: int, n_cal: int, sweeps: int, candidates: int,
                      device, progress=None) -> tuple[list[int], dict]:
    """Coordinate descent on integer timesteps against a many-step solution (cached on disk)."""
    key = substrate.config_hash("schedule", substrate.teacher_key(), solver, nfe, ref_steps, n_cal, sweeps, candidates)
    path = substrate.cache_dir() / "schedules" / f"{key}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            return data["timesteps"], dict(data["info"], cached=True)
        except (OSError, ValueError, KeyError):
            pass
    started = time.perf_counter()
    net = harness.CountingModel(model, progress)
    noise = harness.make_noise(n_cal, 987654, device)  # calibration seed, disjoint from evaluation seeds
    target = harness.sample(net, make_scheduler(solver), noise, steps=ref_steps)

    def loss(ts):
        out = harness.sample(net, make_scheduler(solver), noise, timesteps=ts)
        return float(((out - target) ** 2).mean())

    probe = make_scheduler(solver)
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


def run(params: dict, ctx: RunContext) -> dict:
    device, progress = ctx.device, ctx.progress
    progress.stage(0.0, 0.03).report(0.0, "loading the substrate model")
    model, source = substrate.load_teacher(device=device)
    harness.warm_up(model, device, params["batch"])
    n, seeds, batch, solver = params["n_samples"], list(range(params["seeds"])), params["batch"], params["solver"]
    nfe = params["nfe"]
    sweep = sorted(set(params["nfe_sweep"]) | {nfe})
    schedules = [s for s in params["schedules"]]
    optimised: dict[int, tuple] = {}
    if "optimised" in schedules:
        for i, k in enumerate([nfe] + ([s for s in sweep if s != nfe] if params["optimise_sweep"] else [])):
            progress.stage(0.03 + 0.25 * i / len(sweep), 0.03 + 0.25 * (i + 1) / len(sweep))
            optimised[k] = optimise_schedule(model, solver, k, params["ref_steps"], params["calibration"],
                                             params["sweeps"], params["candidates"], device, progress)
    methods = [schedule_method(solver, "linspace", params["ref_steps"], role="baseline")]
    methods[0].label = f"reference {LABELS[solver]} {params['ref_steps']}"
    for k in sweep:
        for s in schedules:
            if s == "optimised" and k not in optimised:
                continue
            role = "equal-cost" if s == "linspace" else "technique"
            methods.append(schedule_method(solver, s, k, optimised.get(k, (None,))[0], role))
    total = sum(m.expected_nfe for m in methods)
    done, rows = 0, []
    base = progress.fraction
    for m in methods:
        progress.stage(base + (0.97 - base) * done / total, base + (0.97 - base) * (done + m.expected_nfe) / total)
        grid_dir = ctx.out_dir / "grids" if m.info.get("nfe_budget") in (nfe, params["ref_steps"]) else None
        rows.append(harness.measure(m, model, n, seeds, device, batch, progress, grid_dir))
        done += m.expected_nfe
    harness.compare(rows, methods[0].label)
    ref = rows[0]
    target = ref["fd"] * params["target_ratio"]
    notes = [f"solver {LABELS[solver]}; quality target: FD <= {target:.1f} "
             f"({params['target_ratio']:.2f} x the {params['ref_steps']}-step reference's {ref['fd']:.1f})"]
    reach = []
    for s in schedules:
        ok = [r for r in rows[1:] if r["schedule"] == s and r["fd"] <= target]
        tried = sorted(r["nfe"] for r in rows[1:] if r["schedule"] == s)
        reach.append({"schedule": s, "nfe_to_target": min((r["nfe"] for r in ok), default=None),
                      "nfe_tried": ",".join(str(int(x)) for x in tried)})
    fixed = {r["schedule"]: r for r in rows[1:] if r["nfe_budget"] == nfe}
    if "linspace" in fixed:
        for s, r in fixed.items():
            if s != "linspace":
                notes.append(harness.verdict(r, fixed["linspace"], f" [equal-cost baseline: linspace, {nfe} NFE]"))
    for k, (ts, info) in sorted(optimised.items()):
        how = ("cached" if info.get("cached") else
               f"{info['seconds']:.1f}s, {info['optimiser_nfe_calls']} network calls on "
               f"{info['calibration_samples']} calibration samples")
        notes.append(f"optimised {k}-step schedule {ts}: trajectory MSE {info['mse_start']:.5f} -> "
                     f"{info['mse_end']:.5f} ({how})")
    return {
        "rows": rows,
        "baseline": ref["method"],
        "equal_cost": f"the same solver with the default linspace grid at the same NFE",
        "anchors": metrics.anchors(n),
        "notes": notes,
        "tables": {"NFE needed to reach the quality target": reach},
        "chart": {"x": ["nfe", "wall_s"], "y": "fd", "series": "schedule"},
        **harness.provenance(rows, model, source),
    }


DEMO = Demo(
    id="scheduling",
    title="Timestep schedules at a fixed NFE: uniform/leading/trailing, Karras sigmas, an optimised (AYS-style) schedule",
    summary="Same solver, same noise, same budget; only the visited timesteps change. Also: NFE each schedule needs to reach a quality target.",
    nodes=("shen2025:algorithm.sampling.scheduling", "ulhaq2022:eps.scheduling", "ma2024:part5.trajectory"),
    papers=("align-your-steps-2024", "optimized-time-steps-2024", "elucidating-design-space-diffusion-2022",
            "dpm-solver-plus-plus-2022", "learning-efficiently-sample-diffusion-2021"),
    params=(
        Param("n_samples", "int", 200, 1000, "samples per seed", 50, 5000),
        Param("seeds", "int", 2, 3, "noise seeds", 1, 10),
        Param("batch", "int", 200, 500, "batch size per network call", 1, 4096),
        Param("solver", "str", "dpmsolver++", "dpmsolver++", "solver (custom timesteps need DPM-Solver++ or Euler)",
              choices=("dpmsolver++", "euler")),
        Param("nfe", "int", 6, 6, "the fixed budget of network evaluations", 2, 100),
        Param("nfe_sweep", "ints", [4, 10], [4, 6, 8, 10, 15], "budgets tried for the quality target", 2, 200),
        Param("schedules", "strs", list(SCHEDULES), list(SCHEDULES), "schedules to compare", choices=SCHEDULES),
        Param("ref_steps", "int", 50, 100, "steps of the full-cost reference (same solver, linspace)", 10, 1000),
        Param("target_ratio", "float", 1.25, 1.1, "quality target: FD within this factor of the reference", 1.0, 10.0),
        Param("calibration", "int", 64, 128, "calibration samples for the optimised schedule", 8, 4096),
        Param("sweeps", "int", 1, 2, "coordinate-descent sweeps", 1, 20),
        Param("candidates", "int", 4, 4, "candidate positions per timestep and sweep", 1, 32),
        Param("optimise_sweep", "bool", False, True, "also optimise a schedule for every NFE in the sweep"),
    ),
    run=run,
    module=__name__,
    quick_seconds=55,
    full_seconds=1190,
)
