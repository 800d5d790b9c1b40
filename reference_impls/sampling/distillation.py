"""Knowledge distillation: progressive distillation halves the steps every round.

The technique (Salimans & Ho, "Progressive Distillation for Fast Sampling of
Diffusion Models", 2022)
    Start from a teacher sampled with deterministic DDIM at 2N steps. Train a
    student, initialised from the teacher, so that ONE of its DDIM steps from
    time t to t - 1/N lands where TWO of the teacher's steps (t -> t - 1/2N
    -> t - 1/N) land. The student then samples in N steps; it becomes the
    teacher of the next round, which halves the steps again: 32 -> 16
    -> 8 -> 4 -> 2 -> 1.

    For a teacher landing at z_s from z_t, the x-target that makes a single
    DDIM step hit the same point is

        x~ = (z_s - (sigma_s / sigma_t) z_t) / (alpha_s - (sigma_s / sigma_t) alpha_t)

    and the student is trained on ||x_hat(z_t) - x~||^2 weighted by
    max(SNR(t), 1) ("truncated SNR" weighting). The network predicts v, from
    which x_hat = alpha_t z_t - sigma_t v; at one or two steps an
    epsilon-predicting network would have to divide by alpha_t ~ 0, which is
    why the substrate model is trained with v-prediction.

    The student's time grid is "trailing": N steps visit t = 1000 i / N - 1,
    i = N..1, then the clean image. DDIM here is written out by hand (it is the
    thing being distilled); the x0 prediction is clipped to [-1, 1] as
    diffusers' DDIMScheduler does by default.

What is measured
    The students of every committed round (trained by
    `python -m reference_impls.train students`, config recorded beside the
    weights) at 8/4/2/1 steps against the teacher with the same DDIM sampler
    at the same step count (the equal-cost baseline) and at its full count
    (32 steps, where distillation starts; the full-cost baseline). The quick
    configuration also runs one short distillation round live (2 -> 1 steps
    from the committed 2-step student) so the training path runs in front of
    the user; `retrain=true` redoes every round (meant for a GPU).

Catalog papers: progressive-distillation-fast-sampling-2022,
denoising-diffusion-implicit-models-2021.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch

from ..core import harness
from ..core.checkpoints import config_hash, find_checkpoint, load_weights, save_checkpoint, training_meta, verify_checkpoint
from ..core.data import digits_split
from ..core.device import pick_device
from ..core.model import alphas_cumprod, make_unet
from ..core.progress import Progress
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import load_teacher, teacher_for, teacher_key

BASE_STEPS = 32


@dataclass(frozen=True)
class DistillConfig:
    base_steps: int = BASE_STEPS
    final_steps: int = 1
    iters: int = 600
    batch_size: int = 64
    lr: float = 3e-4
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


FULL_DISTILL = DistillConfig()


# ---------------------------------------------------------------------------
# the DDIM step in (alpha, sigma) form, on a trailing grid
# ---------------------------------------------------------------------------


def alpha_sigma(t: torch.Tensor, ac: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha_t, sigma_t for integer timesteps; t = -1 means the clean image (alpha 1, sigma 0)."""
    a = torch.where(t >= 0, ac[t.clamp(min=0)], torch.ones_like(t, dtype=ac.dtype))
    return a.sqrt(), (1 - a).clamp(min=0).sqrt()


def grid(steps: int) -> list[int]:
    """Trailing grid: t_N = 999, ..., t_1 = 1000/N - 1, then -1 (clean)."""
    return [round(1000 * i / steps) - 1 for i in range(steps, 0, -1)] + [-1]


def predict_x0(net, z: torch.Tensor, t: torch.Tensor, ac: torch.Tensor, clip: bool = True) -> torch.Tensor:
    a, s = alpha_sigma(t, ac)
    a, s = a.view(-1, 1, 1, 1), s.view(-1, 1, 1, 1)
    v = net(z, t)
    x0 = a * z - s * v
    return x0.clamp(-1, 1) if clip else x0


def ddim_step(z: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, s: torch.Tensor, ac: torch.Tensor) -> torch.Tensor:
    """z_s = alpha_s x0 + sigma_s eps, with eps = (z_t - alpha_t x0) / sigma_t (deterministic DDIM)."""
    alpha_t, sigma_t = (u.view(-1, 1, 1, 1) for u in alpha_sigma(t, ac))
    alpha_s, sigma_s = (u.view(-1, 1, 1, 1) for u in alpha_sigma(s, ac))
    eps = (z - alpha_t * x0) / sigma_t
    return alpha_s * x0 + sigma_s * eps


@torch.no_grad()
def ddim_sample(net, noise: torch.Tensor, steps: int, ac: torch.Tensor) -> torch.Tensor:
    z = noise
    g = grid(steps)
    b = noise.shape[0]
    for t_now, t_next in zip(g[:-1], g[1:]):
        t = torch.full((b,), t_now, device=noise.device, dtype=torch.long)
        s = torch.full((b,), t_next, device=noise.device, dtype=torch.long)
        x0 = predict_x0(net, z, t, ac)
        z = ddim_step(z, x0, t, s, ac) if t_next >= 0 else x0
    return z


class _Raw(torch.nn.Module):
    """UNet2DModel -> plain tensor, for training code."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t):
        return self.unet(x, t).sample


# ---------------------------------------------------------------------------
# one round of progressive distillation
# ---------------------------------------------------------------------------


def distill_round(teacher_unet, student_steps: int, cfg: DistillConfig, device: torch.device,
                  progress: Optional[Progress] = None, iters: Optional[int] = None):
    """Train a student with `student_steps` steps from a teacher with twice as many."""
    iters = iters or cfg.iters
    gen = torch.Generator().manual_seed(cfg.seed + student_steps)
    torch.manual_seed(cfg.seed + student_steps)
    ac = alphas_cumprod().to(device)
    data = digits_split().train_x
    student_unet = copy.deepcopy(teacher_unet).train()
    student = _Raw(student_unet)
    for p in student_unet.parameters():
        p.requires_grad_(True)
    teacher_unet = copy.deepcopy(teacher_unet).eval()  # leave the caller's model untouched
    teacher = _Raw(teacher_unet)
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(student_unet.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / iters)))
    g_student = grid(student_steps)
    g_teacher = grid(2 * student_steps)
    running = None
    for it in range(iters):
        idx = torch.randint(0, len(data), (cfg.batch_size,), generator=gen)
        x0 = data[idx].to(device)
        k = torch.randint(0, student_steps, (cfg.batch_size,), generator=gen)
        t = torch.tensor([g_student[i] for i in k], device=device)
        s = torch.tensor([g_student[i + 1] for i in k], device=device)
        mid = torch.tensor([g_teacher[2 * i + 1] for i in k], device=device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        # z_t = alpha_t x + sigma_t eps
        a_t, s_t = alpha_sigma(t, ac)
        z_t = a_t.view(-1, 1, 1, 1) * x0 + s_t.view(-1, 1, 1, 1) * noise
        with torch.no_grad():
            # two teacher DDIM steps: z_t -> z_mid -> z_s
            x_a = predict_x0(teacher, z_t, t, ac)
            z_mid = ddim_step(z_t, x_a, t, mid, ac)
            x_b = predict_x0(teacher, z_mid, mid, ac)
            last = (s < 0).view(-1, 1, 1, 1)
            z_s = torch.where(last, x_b, ddim_step(z_mid, x_b, mid, s.clamp(min=0), ac))
            # x~ = (z_s - (sigma_s / sigma_t) z_t) / (alpha_s - (sigma_s / sigma_t) alpha_t): the x that one
            # student DDIM step t -> s must predict to land on z_s (at the last step, s = clean: x~ = z_s)
            a_s, s_s = alpha_sigma(s, ac)
            ratio = (s_s / s_t).view(-1, 1, 1, 1)
            denom = a_s.view(-1, 1, 1, 1) - ratio * a_t.view(-1, 1, 1, 1)
            target = torch.where(last, z_s, (z_s - ratio * z_t) / denom)
        # L = max(SNR_t, 1) || x_hat(z_t) - x~ ||^2 (the paper's "truncated SNR" weighting)
        x_hat = predict_x0(student, z_t, t, ac, clip=False)
        snr = (a_t ** 2 / s_t ** 2).clamp(min=1.0).view(-1, 1, 1, 1)
        loss = (snr * (x_hat - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student_unet.parameters(), 1.0)
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if progress:
            progress.report((it + 1) / iters, f"distilling {2 * student_steps}->{student_steps} steps: "
                                               f"iter {it + 1}/{iters}, loss {running:.4f}")
    return student_unet.eval(), running


def student_key(steps: int, cfg: Optional[DistillConfig] = None) -> str:
    cfg = cfg or FULL_DISTILL
    return config_hash("pd-student", teacher_key(), cfg.to_dict(), steps)


def round_steps(cfg: Optional[DistillConfig] = None) -> list[int]:
    cfg = cfg or FULL_DISTILL
    out, n = [], cfg.base_steps // 2
    while n >= cfg.final_steps:
        out.append(n)
        n //= 2
    return out


def train_all_students(out: Path, force: bool = False, cfg: Optional[DistillConfig] = None) -> None:
    cfg = cfg or FULL_DISTILL
    device = pick_device()
    teacher, _ = load_teacher(device=device, train_if_missing=False)
    current = teacher
    for steps in round_steps(cfg):
        key = student_key(steps, cfg)
        existing = verify_checkpoint("pd-student", key, out)
        if existing and not force:
            current = load_weights(make_unet(), existing).to(device).eval()
            print(f"student {steps} steps present; skipping", flush=True)
            continue
        started = time.time()
        student, loss = distill_round(current, steps, cfg, device)
        meta = training_meta(cfg, "python -m reference_impls.train students",
                                       {"student_steps": steps, "teacher_steps": 2 * steps, "final_loss": loss,
                                        "train_seconds": time.time() - started, "teacher_key": teacher_key()})
        path = save_checkpoint(student, "pd-student", key, out, meta)
        current = load_weights(make_unet(), path).to(device).eval()
        print(f"student {2 * steps}->{steps}: loss {loss:.4f}, {time.time() - started:.0f}s", flush=True)


def load_student(steps: int, device: torch.device):
    path, where = find_checkpoint("pd-student", student_key(steps))
    if path is None:
        return None, "missing"
    return load_weights(make_unet(), path).to(device).eval(), where


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------


def ddim_method(label: str, unet, steps: int, role: str, extra: dict) -> harness.Method:
    """DDIM on the trailing grid with `unet` (the teacher or a student) in `steps` steps."""
    ac_on: dict = {}

    def fn(noise, seed, net):
        if noise.device not in ac_on:
            ac_on[noise.device] = alphas_cumprod().to(noise.device)
        return ddim_sample(net, noise, steps, ac_on[noise.device])

    return harness.Method(label, fn, steps, role, model=unet,
                          extra=dict(extra, steps=steps, sampler="DDIM (trailing grid, clipped x0)"))


def _students(params: dict, teacher, ctx: RunContext, notes: list[str]) -> dict:
    """The students to measure: committed (or retrained now), plus the short live round of the quick config."""
    students: dict = {}
    if params["retrain"]:
        cfg = DistillConfig(iters=params["iters_per_round"])
        current, rounds = teacher, round_steps(cfg)
        for i, steps in enumerate(rounds):
            ctx.progress.stage(0.02 + 0.5 * i / len(rounds), 0.02 + 0.5 * (i + 1) / len(rounds))
            current, _ = distill_round(current, steps, cfg, ctx.device, ctx.progress)
            students[steps] = (current, f"trained now ({cfg.iters} iters/round)")
        return students
    for steps in params["student_steps"]:
        unet, where = load_student(steps, ctx.device)
        if unet is None:
            notes.append(f"no committed {steps}-step student (run 'python -m reference_impls.train students')")
        else:
            students[steps] = (unet, where)
    parent = students[2][0] if 2 in students else load_student(2, ctx.device)[0]
    if params["live_iters"] > 0 and parent is not None:
        ctx.progress.stage(0.02, 0.3)
        started = time.perf_counter()
        live, loss = distill_round(parent, 1, FULL_DISTILL, ctx.device, ctx.progress, iters=params["live_iters"])
        seconds = time.perf_counter() - started
        notes.append(f"live round 2->1 steps: {params['live_iters']} iterations in {seconds:.1f}s (the committed "
                     f"1-step student had {FULL_DISTILL.iters}); loss {loss:.4f}")
        students["live"] = (live, "trained now (live, short)")
    return students


def run(params: dict, ctx: RunContext):
    # 1. teacher and students
    teacher, info = teacher_for(ctx, params)
    notes: list[str] = []
    students = _students(params, teacher, ctx, notes)
    # 2. methods: the teacher at its full step count, then per step count the teacher (equal cost) and the student
    full = ddim_method(f"teacher DDIM {params['teacher_full_steps']}", teacher, params["teacher_full_steps"],
                       "full-cost", {"model": "teacher"})
    methods = [full]
    for steps in params["student_steps"]:
        methods.append(ddim_method(f"teacher DDIM {steps}", teacher, steps, "equal-cost", {"model": "teacher"}))
        if steps in students:
            unet, where = students[steps]
            methods.append(ddim_method(f"student {steps}", unet, steps, "technique", {"model": f"student ({where})"}))
    if "live" in students:
        methods.append(ddim_method("student 1 (live round)", students["live"][0], 1, "technique",
                                   {"model": students["live"][1]}))
    # 3. measure
    measured = harness.measure_all(methods, teacher, ctx, params)
    # 4. verdicts: each student against the teacher at the same steps and at its full count
    comparisons = []
    for m in methods:
        if m.role == "technique":
            comparisons += measured.compare(m.label, f"teacher DDIM {m.nfe:.0f}") + measured.compare(m.label, full.label)
    # 5. result
    return harness.result(measured, comparisons, params, notes=notes, model=dict(info, distill=FULL_DISTILL.to_dict()),
                          equal_cost="the teacher with the same DDIM sampler at the same number of steps")


def _check(params: dict) -> None:
    if (params["width"], params["image_size"]) != (1, 16) and not params["retrain"]:
        raise ParamError("parameters 'width'/'image_size': students are committed only for width=1, image_size=16; "
                         "set retrain=true to distil a bigger teacher now (a GPU job)")
    if params["live_iters"] > 0 and 1 not in params["student_steps"]:
        raise ParamError("parameter 'live_iters': the live 2->1 round is compared with the teacher at 1 step; "
                         "include 1 in student_steps or set live_iters=0")
    if params["teacher_full_steps"] <= max(params["student_steps"]):
        raise ParamError(f"parameter 'teacher_full_steps': {params['teacher_full_steps']} must exceed every student "
                         "step count (it is the full-cost baseline)")


DEMO = Demo(
    id="distillation",
    title="Progressive distillation: a student at 8/4/2/1 steps vs its teacher",
    summary="Each round trains a student whose one DDIM step matches two teacher steps; measured against the teacher at the same and at its full step count.",
    nodes=("shen2025:algorithm.sampling.distillation", "ma2024:part5.distillation"),
    papers=("progressive-distillation-fast-sampling-2022", "denoising-diffusion-implicit-models-2021"),
    params=common(n_samples=(200, 1000), seeds=(5, 5)) + (
        Param(name="student_steps", type=int, many=True, quick=[8, 4, 2, 1], full=[8, 4, 2, 1], lo=1, hi=32,
              help="student step counts to evaluate"),
        Param(name="teacher_full_steps", type=int, quick=32, full=32, lo=2, hi=1000,
              help="teacher DDIM steps for the full-cost baseline"),
        Param(name="live_iters", type=int, quick=40, full=0, lo=0, hi=100000,
              help="iterations of a live 2->1 round (0 = none)"),
        Param(name="retrain", type=bool, quick=False, full=False,
              help="redo every round now instead of loading committed students (GPU)"),
        Param(name="iters_per_round", type=int, quick=600, full=600, lo=1, hi=100000,
              help="iterations per round when retrain=true"),
    ),
    run=run,
    check=_check,
    smoke=dict(n_samples=64, seeds=2, student_steps=[2, 1], live_iters=5, teacher_full_steps=8),
    module=__name__,
    quick_seconds=40,
    full_seconds=180,
)
