"""Backbone: a diffusion transformer (DiT) against the U-Net, same data, recipe and samplers.

The technique
    Peebles & Xie (DiT, ICCV 2023) replace the convolutional U-Net of a
    diffusion model with a plain vision transformer: the input is cut into
    p x p patches (tokens), a stack of transformer blocks processes them, and
    the timestep (and class) condition every block through adaptive layer
    norm whose residual gates start at zero ("adaLN-Zero"); a linear layer
    turns the tokens back into patches. Their claim is that the transformer
    backbone scales: sample quality follows the network's GFLOPs, and the
    largest model (DiT-XL/2) reaches FID 2.27 on class-conditional ImageNet
    256x256.

    Here both backbones are diffusers models of about the same size, trained
    from scratch on the same 16x16 digits with the same v-prediction
    objective, noise schedule and recipe (AdamW, lr 2e-3, warm-up 200, cosine
    decay, batch 64, EMA 0.999, seed 0) for the same number of steps
    (`dit.DIT_TRAIN_STEPS` = 1000): a `UNet2DModel` (453,793 parameters, the
    teacher's architecture) and `core/dit.py`'s `TinyDiT`, an unconditional
    `DiTTransformer2DModel` with patch size 2 (64 tokens of width 64) and 5
    blocks (486,020 parameters, adaLN-Zero initialised as in the paper). Only
    the network differs; both run under the same diffusers schedulers with the
    same initial noise. Labels name the backbone and its training steps:
    "DiT/1000 DDIM 10" is the DiT trained 1000 steps, sampled with DDIM in 10.

What is measured
    For each sampler and step count: the DiT (technique) and the equal-budget
    U-Net at the same sampler and step count (equal-cost: equal NFE and equal
    training; the FLOPs of one call differ between the backbones and are
    reported), plus the committed teacher (the same U-Net trained 8000 steps,
    `training.FULL_TRAIN`) at `baseline_steps` with the first sampler
    (full-cost). Per row: NFE, FLOPs per sample (FLOPs per call = FLOPs /
    NFE), parameters, wall time, FD and KID in the digits classifier's
    features, with paired verdicts against both baselines over the shared
    seeds. The committed 1000-step budget is what the shared 2-core machine
    allowed; it favours whichever backbone converges faster, not the better
    one at convergence. `train_steps` sets another budget (both networks
    then train on first use and are cached: a GPU experiment). The DiT paper's scaling claim (quality improves with backbone
    GFLOPs at ImageNet scale) is not tested: one small size of each backbone
    is compared, at 64 tokens, where a convolutional prior fits well.

Catalog papers: scalable-diffusion-models-transformers-2023.
"""

from __future__ import annotations

import torch

from ..core import harness
from ..core.dit import DIT_TRAIN_STEPS, dit_key, dit_train_config, load_dit
from ..core.harness import model_info
from ..core.schedulers import LABELS, SOLVERS, describe, expected_nfe, make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import FULL_TRAIN, TrainConfig, load_teacher, teacher_for, teacher_key


def backbone_method(name: str, model: torch.nn.Module, sampler: str, steps: int, role: str) -> harness.Method:
    """Sample with `model` (a U-Net or the DiT, `name` says which and its training) under `sampler` in `steps` steps."""
    probe = make_scheduler(sampler)

    def fn(noise, seed, net):
        gen = torch.Generator(device=noise.device).manual_seed(seed + 7)
        return harness.sample(net, make_scheduler(sampler), noise, steps=steps, generator=gen)

    return harness.Method(f"{name} {LABELS[sampler]} {steps}", fn, expected_nfe(sampler, steps), role, model=model,
                          extra={"backbone": name.split("/")[0], "train_steps": int(name.split("/")[1]),
                                 "sampler": sampler, "steps": steps, **describe(probe)})


def run(params: dict, ctx: RunContext):
    # 1. models: the committed teacher (FULL_TRAIN), the tiny DiT and a U-Net trained exactly like the DiT
    teacher, teacher_info = teacher_for(ctx, params)
    budget = TrainConfig(steps=params["train_steps"])  # = dit_train_config() at the committed budget
    ctx.progress.report(0.0, "loading the tiny DiT" + ("" if budget == dit_train_config() else " (training it on first use)"))
    dit, source = load_dit(ctx.device, train_if_missing=True, cfg=budget, progress=ctx.progress.report)
    dit_info = model_info(dit, source, dit_key(budget), train_config=budget.to_dict())
    ctx.progress.report(0.0, "loading the equal-budget U-Net")
    unet, source = load_teacher(budget, ctx.device, train_if_missing=True, progress=ctx.progress.report)
    unet_info = model_info(unet, source, teacher_key(budget), train_config=budget.to_dict())
    full_name, unet_name, dit_name = (f"UNet/{FULL_TRAIN.steps}", f"UNet/{budget.steps}", f"DiT/{budget.steps}")
    # 2. methods: the full-cost teacher at baseline_steps; per sampler and step count the equal-budget U-Net
    #    (equal cost: same NFE, same training) and the DiT
    full = backbone_method(full_name, teacher, params["samplers"][0], params["baseline_steps"], "full-cost")
    methods, pairs = [full], []
    for sampler in params["samplers"]:
        for steps in params["steps"]:
            eq = backbone_method(unet_name, unet, sampler, steps, "equal-cost")
            tech = backbone_method(dit_name, dit, sampler, steps, "technique")
            methods += [eq, tech]
            pairs.append((tech, eq))
    # 3. measure, all in one run, repeats interleaved
    measured = harness.measure_all(methods, teacher, ctx, params)
    # 4. verdicts: the DiT against the full-cost teacher and against the equal-budget U-Net at the same sampler/steps
    per_call = {r.method: r.flops_per_sample / r.nfe for r in measured.rows if r.flops_per_sample and r.nfe}
    comparisons = []
    for tech, eq in pairs:
        ratio = per_call[tech.label] / per_call[eq.label] if per_call.get(tech.label) and per_call.get(eq.label) else None
        note = "equal NFE and training" + (f"; one DiT call costs {ratio:.2f}x a U-Net call in FLOPs" if ratio else "")
        comparisons += measured.compare(tech.label, full.label, f"the teacher had {FULL_TRAIN.steps} training steps, "
                                                                f"the DiT {budget.steps}")
        comparisons += measured.compare(tech.label, eq.label, note)
    # 5. result: both networks' size and cost per call
    unet_call = per_call.get(pairs[0][1].label)
    dit_call = per_call.get(pairs[0][0].label)
    notes = [f"Parameters: U-Net {unet_info['parameters']:,}, DiT {dit_info['parameters']:,} "
             f"({dit_info['parameters'] / unet_info['parameters']:.2f}x)."]
    if unet_call and dit_call:
        notes.append(f"FLOPs per network call and sample (torch FlopCounterMode, sampler step included): U-Net "
                     f"{unet_call / 1e6:.1f} MFLOP, DiT {dit_call / 1e6:.1f} MFLOP ({dit_call / unet_call:.2f}x); "
                     "the equal-cost rows are equal in NFE and training, not in FLOPs per call.")
    dit_row, unet_row = measured.row(pairs[0][0].label), measured.row(pairs[0][1].label)
    if dit_row.fd > unet_row.fd:
        notes.append("The DiT trails the equal-budget U-Net here. The likely reason: a transformer over 64 patch "
                     "tokens has none of the convolutional prior (locality, translation equivariance, multi-scale "
                     "features) that suits 16x16 digits, and learns it from data more slowly; the DiT paper's "
                     "models train for 400k+ steps. A larger train_steps (trains both networks on first use: a "
                     "GPU experiment) tests whether the gap closes.")
    notes.append(f"Equal budget: the DiT and the equal-cost U-Net were both trained for {budget.steps} steps with "
                 f"the teacher's recipe (batch {budget.batch_size}, lr {budget.lr}, warm-up {budget.warmup}, cosine "
                 f"decay, EMA {budget.ema_decay}, seed {budget.seed}); the full-cost teacher had {FULL_TRAIN.steps} "
                 "steps. The transformer may prefer another learning rate or a longer schedule (the DiT paper "
                 "trains for 400k+ steps at lr 1e-4); this equal-recipe comparison does not search them.")
    return harness.result(measured, comparisons, params, notes=notes,
                          equal_cost="the U-Net trained with the same budget, at the same sampler and steps",
                          model=dict(teacher_info, equal_budget_unet=unet_info, dit=dict(dit_info)))


def _check(params: dict) -> None:
    if params["width"] != 1 or params["image_size"] != 16:
        raise ParamError("parameters 'width' and 'image_size': the tiny DiT is trained (and committed) only at the "
                         "default scale; use width=1, image_size=16")
    if params["train_steps"] == FULL_TRAIN.steps and params["baseline_steps"] in params["steps"]:
        raise ParamError(f"parameter 'train_steps': at {FULL_TRAIN.steps} the equal-budget U-Net is the teacher "
                         "itself; drop baseline_steps from 'steps' or pick another train_steps")
    if params["baseline_steps"] < max(params["steps"]):
        raise ParamError(f"parameter 'baseline_steps': {params['baseline_steps']} is fewer than the largest step count "
                         f"{max(params['steps'])}; the full-cost baseline must cost the most")


DEMO = Demo(
    id="backbone",
    title="Backbone: a tiny diffusion transformer (DiT) vs the U-Net, same data, recipe and samplers",
    summary="A diffusers DiT and a U-Net of about the same size, trained the same way; quality, FLOPs and time per "
            "sample under the same schedulers and noise.",
    nodes=("ma2024:part3.transformer",),
    papers=("scalable-diffusion-models-transformers-2023",),
    params=common(n_samples=(200, 500), seeds=(3, 5)) + (
        Param(name="steps", type=int, many=True, quick=[10], full=[10, 20], lo=1, hi=1000,
              help="sampler step counts for both backbones (comma-separated)"),
        Param(name="samplers", type=str, many=True, quick=["ddim"], full=["ddim", "dpmsolver++"], choices=SOLVERS,
              help="diffusers schedulers, each run on both backbones (the first one also runs the full-cost baseline)"),
        Param(name="baseline_steps", type=int, quick=30, full=50, lo=1, hi=1000,
              help="steps of the full-cost U-Net baseline (with the first sampler)"),
        Param(name="train_steps", type=int, quick=DIT_TRAIN_STEPS, full=DIT_TRAIN_STEPS, lo=100, hi=1_000_000,
              help=f"training steps of both the DiT and the equal-budget U-Net ({DIT_TRAIN_STEPS} = the committed "
                   "weights; any other value trains both on first use and caches them: a GPU experiment)"),
    ),
    run=run,
    check=_check,
    smoke=dict(n_samples=64, seeds=2, steps=[2], baseline_steps=5),
    module=__name__,
    same_cost_per_nfe=False,
    quick_seconds=23,  # measured 2026-12-02: diffatlas demo run backbone --quick, idle 2-core CPU, 2 threads
    full_seconds=308,  # measured: benchmarks/run_all.py, same machine (benchmarks/report-cpu.md)
)
