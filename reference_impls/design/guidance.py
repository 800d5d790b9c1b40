"""Guidance: classifier guidance and classifier-free guidance against unguided sampling at equal cost.

The technique
    A class-conditional diffusion model samples p(x | y). Guidance sharpens it
    towards p(x | y) p(y | x)^s: samples that a classifier finds more clearly
    of class y, at the price of diversity (and of extra computation).

    * Classifier guidance (Dhariwal & Nichol 2021, ADM-G; the taxonomy's
      "guided"): a separate, noise-aware classifier p_phi(y | x_t, t) is
      trained on noisy images, and every step adds the gradient of its
      log-probability of the intended class to the score:
      eps_hat = eps - s * sigma_t * grad_x log p_phi(y | x_t) (their
      Algorithm 2, DDIM). This model predicts v, and with x_t fixed
      eps = alpha_t v + sigma_t x_t, so the same step in v is
      v_hat = v - s * (sigma_t / alpha_t) * grad. Cost per step: one UNet
      call plus one classifier forward and backward.
    * Classifier-free guidance (Ho & Salimans 2021; "not guided" by a
      classifier): one network is trained both conditionally and
      unconditionally (the label is replaced by a null class 10% of the
      time), and every step extrapolates from the unconditional to the
      conditional prediction: v_hat = v_u + w (v_c - v_u) (linear in v, so
      the same as in eps). w = 1 is plain conditional sampling, w = 0
      unconditional. Cost per step: two UNet calls, run here as one call on
      a doubled batch (cond and null labels), counted as 2 NFE.

    The substrate: the committed teacher's UNet2DModel with a class embedding
    added (`num_class_embeds=11`: ten digits and the null class; 704 more
    parameters), initialised from the teacher's weights with the class
    embedding at zero (so it starts as the unconditional teacher) and
    fine-tuned with 10% label dropout (`python -m reference_impls.train
    guidance`); the noise-aware classifier is a small time-conditioned CNN
    trained on x_t at uniform t by the same command. Both are committed.

What is measured
    Every method samples the same noise with DDIM, and the intended labels
    are fixed: sample i of a batch is asked for digit i mod 10 (balanced).
    Rows, all in one harness run:
    * the full-cost baseline: the conditional model unguided (w = 1) at
      `baseline_steps` (many steps; guidance does not save cost, so this row
      is the "as good as unguided sampling gets here" anchor);
    * unguided conditional sampling at `steps` (a control) and the
      unconditional model (null label) at `steps` (a control: what the
      label alone buys);
    * CFG at each scale in `cfg_scales`, 2 NFE per step;
    * classifier guidance at each scale in `cg_scales` on the conditional
      model (`cg_model=cond`, ADM-G's best setting) or on the unconditional
      one (`uncond`: the classifier is then the only source of the class);
    * the equal-cost baselines: unguided conditional sampling at twice the
      steps (the NFE of CFG) and at the step count whose FLOPs equal a
      classifier-guided run's (from a FLOP count of one UNet call and one
      classifier forward+backward, `torch.utils.flop_counter`).
    Metrics: FD and KID of the whole (class-balanced) set against the
    held-out digits, which are stratified, so this is the unconditional FD
    of the mixture: it penalises wrong classes and lost diversity alike.
    Beyond them, per seed and paired over seeds like FD: the intended-class
    error (share of samples the project's digits classifier, not the
    guidance classifier, puts in another class than asked; lower is
    better) and the class-conditional KID (KID of the samples asked for
    digit c against the held-out digits of class c, averaged over c: KID is
    unbiased at the few samples per class a quick run has, FD is not).
    Also: digits-classifier confidence (rises with guidance), k-NN precision
    and recall against the held-out digits (recall falls when guidance
    trades diversity away), and the mean within-class feature spread
    relative to the real digits' (1.0 = as diverse as the data).

Catalog papers: diffusion-models-beat-gans-2021 (classifier guidance),
classifier-free-guidance-2021.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..core import harness, metrics, stats
from ..core.checkpoints import config_hash, find_checkpoint, load_weights, save_checkpoint, training_meta
from ..core.data import IMAGE_SIZE, digits_split
from ..core.model import MODEL_CONFIG, SCHEDULE_CONFIG, training_scheduler
from ..core.schedulers import describe, make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import lr_lambda, teacher_key

NUM_CLASSES = 10
NULL_CLASS = NUM_CLASSES  # the label of unconditional calls
CG_MODELS = ("cond", "uncond")


# ---------------------------------------------------------------------------
# the substrate: a class-conditional UNet and a noise-aware classifier
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GuidanceTrain:
    """Fine-tuning of the conditional UNet from the teacher, and training of the noise-aware classifier."""

    steps: int = 1500           # conditional fine-tuning steps (AdamW, warm-up, cosine, EMA)
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 100
    ema_decay: float = 0.995
    p_uncond: float = 0.1       # label dropout: the share of training labels replaced by the null class
    classifier_steps: int = 3000
    classifier_batch: int = 128
    classifier_lr: float = 2e-3
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


GUIDANCE_TRAIN = GuidanceTrain()
CONDITIONAL_CONFIG = dict(MODEL_CONFIG, num_class_embeds=NUM_CLASSES + 1)


def make_conditional_unet():
    from diffusers import UNet2DModel

    return UNet2DModel(**CONDITIONAL_CONFIG)


class NoisyClassifier(nn.Module):
    """p(y | x_t, t): a small CNN whose every conv layer gets a per-channel shift from the timestep embedding."""

    def __init__(self, width: int = 32, t_dim: int = 64):
        super().__init__()
        self.t_dim = t_dim
        self.time = nn.Sequential(nn.Linear(t_dim, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        chans = (width, 2 * width, 2 * width)
        self.convs = nn.ModuleList([nn.Conv2d(1, chans[0], 3, padding=1),
                                    nn.Conv2d(chans[0], chans[1], 3, padding=1, stride=2),    # 8x8
                                    nn.Conv2d(chans[1], chans[2], 3, padding=1, stride=2)])   # 4x4
        self.shifts = nn.ModuleList([nn.Linear(t_dim, c) for c in chans])
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[2] * 16, 128), nn.SiLU(), nn.Linear(128, NUM_CLASSES))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        from diffusers.models.embeddings import get_timestep_embedding

        if x.shape[-1] != IMAGE_SIZE:
            x = nn.functional.adaptive_avg_pool2d(x, IMAGE_SIZE)
        emb = self.time(get_timestep_embedding(t.reshape(-1).expand(x.shape[0]), self.t_dim).to(x.dtype))
        h = x
        for conv, shift in zip(self.convs, self.shifts):
            h = nn.functional.silu(conv(h) + shift(emb)[:, :, None, None])
        return self.head(h)


def conditional_key(cfg: GuidanceTrain = GUIDANCE_TRAIN) -> str:
    return config_hash("cond-unet", digits_split().data_hash, CONDITIONAL_CONFIG, SCHEDULE_CONFIG, cfg.to_dict(),
                       teacher_key())


def classifier_key(cfg: GuidanceTrain = GUIDANCE_TRAIN) -> str:
    return config_hash("noisy-classifier", digits_split().data_hash, SCHEDULE_CONFIG, cfg.to_dict(), "v1")


def _ema_update(ema: nn.Module, model: nn.Module, step: int, decay: float) -> None:
    d = min(decay, (1 + step) / (10 + step))  # EMA with warm-up, as the teacher's trainer
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.mul_(d).add_(pm.detach(), alpha=1 - d)


def train_conditional(cfg: GuidanceTrain, device: torch.device, log_every: int = 250):
    """Fine-tune the teacher into a class-conditional UNet (v-prediction, labels dropped with p_uncond)."""
    from ..core.training import load_teacher

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    split = digits_split()
    teacher, _ = load_teacher(device=torch.device("cpu"), train_if_missing=False)
    model = make_conditional_unet()
    missing, unexpected = model.load_state_dict(teacher.state_dict(), strict=False)
    if unexpected or set(missing) != {"class_embedding.weight"}:
        raise RuntimeError(f"teacher weights do not fit the conditional UNet: {missing}, {unexpected}")
    nn.init.zeros_(model.class_embedding.weight)  # starts as the unconditional teacher
    model = model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    sched = training_scheduler()
    sched.alphas_cumprod = sched.alphas_cumprod.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    started, running = time.perf_counter(), 0.0
    for step in range(cfg.steps):
        idx = torch.randint(0, len(split.train_x), (cfg.batch_size,), generator=gen)
        x0, y = split.train_x[idx].to(device), split.train_y[idx].clone()
        y[torch.rand(cfg.batch_size, generator=gen) < cfg.p_uncond] = NULL_CLASS
        t = torch.randint(0, SCHEDULE_CONFIG["num_train_timesteps"], (cfg.batch_size,), generator=gen).to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        pred = model(sched.add_noise(x0, noise, t), t, class_labels=y.to(device)).sample
        loss = nn.functional.mse_loss(pred, sched.get_velocity(x0, noise, t))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lr_sched.step()
        _ema_update(ema, model, step, cfg.ema_decay)
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if log_every and (step + 1) % log_every == 0:
            print(f"[guidance] conditional step {step + 1}/{cfg.steps} loss(ema) {running:.4f} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    return ema, {"final_loss": running, "train_seconds": time.perf_counter() - started}


def _shifted(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    dx, dy = torch.randint(-1, 2, (2,), generator=gen).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train_noisy_classifier(cfg: GuidanceTrain, device: torch.device, log_every: int = 500):
    """Train p(y | x_t, t) with cross-entropy on x_t = alpha_t x0 + sigma_t eps at uniform t (one-pixel shifts)."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    split = digits_split()
    net = NoisyClassifier().to(device).train()
    sched = training_scheduler()
    sched.alphas_cumprod = sched.alphas_cumprod.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.classifier_lr)
    lr_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.classifier_steps)
    started, running = time.perf_counter(), 0.0
    for step in range(cfg.classifier_steps):
        idx = torch.randint(0, len(split.train_x), (cfg.classifier_batch,), generator=gen)
        x0, y = _shifted(split.train_x[idx], gen).to(device), split.train_y[idx].to(device)
        t = torch.randint(0, SCHEDULE_CONFIG["num_train_timesteps"], (len(idx),), generator=gen).to(device)
        xt = sched.add_noise(x0, torch.randn(x0.shape, generator=gen).to(device), t)
        loss = nn.functional.cross_entropy(net(xt, t), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lr_sched.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if log_every and (step + 1) % log_every == 0:
            print(f"[guidance] classifier step {step + 1}/{cfg.classifier_steps} loss(ema) {running:.4f} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    net.eval()
    return net, {"final_loss": running, "train_seconds": time.perf_counter() - started,
                 "heldout_accuracy_by_t": noisy_accuracy(net)}


@torch.no_grad()
def noisy_accuracy(net: NoisyClassifier, ts=(0, 250, 500, 750, 999)) -> dict:
    """Held-out accuracy of the noise-aware classifier at a few noise levels (fixed noise)."""
    split = digits_split()
    sched = training_scheduler()
    gen = torch.Generator().manual_seed(123)
    out = {}
    for t in ts:
        tt = torch.full((len(split.test_x),), t)
        xt = sched.add_noise(split.test_x, torch.randn(split.test_x.shape, generator=gen), tt)
        out[str(t)] = round(float((net(xt, tt).argmax(1) == split.test_y).float().mean()), 4)
    return out


def _meta(cfg: GuidanceTrain, info: dict, model_config: dict) -> dict:
    return training_meta(cfg, "python -m reference_impls.train guidance", info, model_config,
                         digits_split().data_hash, IMAGE_SIZE)


def train_and_save(out, force: bool = False, cfg: GuidanceTrain = GUIDANCE_TRAIN, device=None) -> None:
    """Train (unless present and intact) and save the conditional UNet and the noise-aware classifier."""
    from ..core.checkpoints import verify_checkpoint

    device = device or torch.device("cpu")
    key = conditional_key(cfg)
    if force or not verify_checkpoint("cond-unet", key, out):
        print(f"training the conditional UNet cond-unet-{key} on {device}: {cfg}", flush=True)
        model, info = train_conditional(cfg, device)
        save_checkpoint(model, "cond-unet", key, out, _meta(cfg, info, CONDITIONAL_CONFIG))
        print(f"saved cond-unet-{key}: {info}", flush=True)
    else:
        print(f"conditional UNet cond-unet-{key} present in {out}; skipping (use --force)")
    key = classifier_key(cfg)
    if force or not verify_checkpoint("noisy-classifier", key, out):
        print(f"training the noise-aware classifier noisy-classifier-{key} on {device}", flush=True)
        net, info = train_noisy_classifier(cfg, device)
        save_checkpoint(net, "noisy-classifier", key, out, _meta(cfg, info, {"class": "NoisyClassifier"}))
        print(f"saved noisy-classifier-{key}: {info}", flush=True)
    else:
        print(f"noise-aware classifier noisy-classifier-{key} present in {out}; skipping (use --force)")


def _load(name: str, key: str, make, device: torch.device):
    path, where = find_checkpoint(name, key)
    if path is None:
        raise FileNotFoundError(f"no checkpoint {name}-{key}; run 'python -m reference_impls.train guidance'")
    return load_weights(make(), path).to(device).eval().requires_grad_(False), where


def load_models(device: torch.device):
    """The committed conditional UNet and noise-aware classifier (eval mode, no parameter gradients)."""
    unet, unet_where = _load("cond-unet", conditional_key(), make_conditional_unet, device)
    clf, clf_where = _load("noisy-classifier", classifier_key(), NoisyClassifier, device)
    return unet, clf, {"unet": unet_where, "classifier": clf_where}


def checkpoints_present() -> bool:
    return (find_checkpoint("cond-unet", conditional_key())[0] is not None
            and find_checkpoint("noisy-classifier", classifier_key())[0] is not None)


# ---------------------------------------------------------------------------
# the technique: a labelled network, CFG and classifier guidance as denoisers
# ---------------------------------------------------------------------------


def intended(n: int, device=None) -> torch.Tensor:
    """The labels asked for: sample i of a batch is digit i mod 10 (balanced, the same for every method)."""
    return torch.arange(n, device=device) % NUM_CLASSES


class Labelled(nn.Module):
    """The conditional UNet as a plain `net(x, t)`: the labels of the batch under way are set with `given`.

    Outside `given` (the harness's warm-up) it is asked for the intended labels. The harness wraps this
    module in its `CountingModel`, so every sample of every call counts: CFG's doubled batch is 2 NFE.
    """

    def __init__(self, unet):
        super().__init__()
        self.unet = unet
        self.labels: Optional[torch.Tensor] = None

    def given(self, labels: torch.Tensor) -> "_Given":
        return _Given(self, labels)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        y = self.labels if self.labels is not None else intended(x.shape[0], x.device)
        if len(y) != x.shape[0]:
            raise ValueError(f"{len(y)} labels for a batch of {x.shape[0]}")
        return self.unet(x, t, class_labels=y.to(x.device)).sample


class _Given:
    def __init__(self, net: Labelled, labels: torch.Tensor):
        self.net, self.labels = net, labels

    def __enter__(self):
        self.net.labels = self.labels
        return self.net

    def __exit__(self, *exc):
        self.net.labels = None


def cfg_denoiser(net, w: float):
    """Classifier-free guidance: one call on [x, x] with [y, null] labels, v_u + w (v_c - v_u)."""

    def denoise(x, t):
        v_c, v_u = net(torch.cat([x, x]), t).chunk(2)
        return v_u + w * (v_c - v_u)

    return denoise


def classifier_gradient(classifier: NoisyClassifier, x: torch.Tensor, t, y: torch.Tensor) -> torch.Tensor:
    """grad_x log p(y | x_t, t) of the noise-aware classifier (one forward and one backward)."""
    with torch.enable_grad():
        x = x.detach().float().requires_grad_(True)
        tt = (t if torch.is_tensor(t) else torch.tensor(t)).to(x.device).reshape(-1).expand(x.shape[0])
        logp = torch.log_softmax(classifier(x, tt), dim=1)
        logp.gather(1, y.to(x.device)[:, None]).sum().backward()  # not autograd.grad: FlopCounterMode rejects it
        return x.grad


def cg_denoiser(net, classifier: NoisyClassifier, y: torch.Tensor, s: float, alphas_cumprod: torch.Tensor):
    """Classifier guidance in v: v - s (sigma_t / alpha_t) grad log p(y | x_t) (eps - s sigma_t grad, in v)."""

    def denoise(x, t):
        v = net(x, t)
        a = alphas_cumprod[int(t)].to(x.device)
        return v - s * torch.sqrt(1 - a) / torch.sqrt(a) * classifier_gradient(classifier, x, t, y)

    return denoise


# ---------------------------------------------------------------------------
# per-seed class metrics (the harness scores FD/KID; these need the labels asked for)
# ---------------------------------------------------------------------------


class Recorder:
    """Keeps every batch a method produced, by its noise seed, to score it against the labels asked for."""

    def __init__(self, n: int, batch: int, seeds: int):
        self.n, self.batch, self.seeds = n, batch, seeds
        self.batches: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._scores: Optional[dict] = None

    def add(self, seed: int, labels: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        self.batches[seed] = (labels.cpu(), images.detach().float().cpu())  # a later call (a repeat) overwrites
        return images

    def seed_sets(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(labels, images) of each timed seed, in seed order, as the harness scores them.

        The harness draws seed s's batch starting at sample b0 from noise seed 100003 s + b0; a run seed is one
        whose every batch is here (a compile warm-up or the FLOP-counting pass leaves a lone batch)."""
        starts = range(0, self.n, self.batch)
        runs = sorted({k // 100003 for k in self.batches})
        runs = [s for s in runs if all(100003 * s + b0 in self.batches for b0 in starts)]
        if len(runs) != self.seeds:
            raise RuntimeError(f"expected {self.seeds} complete seeds of samples, found {len(runs)}")
        parts = [[self.batches[100003 * s + b0] for b0 in starts] for s in runs]
        return [(torch.cat([p[0] for p in ps]), torch.cat([p[1] for p in ps])) for ps in parts]

    def scores(self) -> dict:
        """Per seed: intended-class error %, class-conditional KID, precision, recall, within-class spread."""
        if self._scores is None:
            per: dict[str, list] = {}
            for labels, images in self.seed_sets():
                for k, v in seed_scores(labels.numpy(), images).items():
                    per.setdefault(k, []).append(v)
            self._scores = per
        return self._scores

    def report(self) -> dict:
        """The row's columns: the means over seeds."""
        return {k: float(np.mean(v)) for k, v in self.scores().items()}


def _spread(feats: np.ndarray) -> float:
    return float(np.linalg.norm(feats - feats.mean(0), axis=1).mean())


class _Real:
    """The held-out digits' live features, overall and per class (computed once per process)."""

    _cached = None

    @classmethod
    def get(cls):
        if cls._cached is None:
            split = digits_split()
            feats = metrics.live(metrics.embed(split.test_x)[0])
            y = split.test_y.numpy()
            per_class = [feats[y == c] for c in range(NUM_CLASSES)]
            cls._cached = (feats, [metrics.Reference(f) for f in per_class], [_spread(f) for f in per_class])
        return cls._cached


def seed_scores(labels: np.ndarray, images: torch.Tensor) -> dict:
    real, class_refs, real_spread = _Real.get()
    feats, probs = metrics.embed(images)
    feats = metrics.live(feats)
    kids, spreads = [], []
    for c in range(NUM_CLASSES):
        mine = feats[labels == c]
        if len(mine) >= 2:
            kids.append(metrics.kid(mine, class_refs[c]))
            spreads.append(_spread(mine) / real_spread[c])
    precision, recall = metrics.precision_recall(real, feats)
    return {"class_error": 100.0 * float((probs.argmax(1) != labels).mean()), "class_kid": float(np.mean(kids)),
            "intended_confidence": float(probs[np.arange(len(labels)), labels].mean()),
            "precision": precision, "recall": recall, "class_spread": float(np.mean(spreads))}


def compare_classes(measured, recorders: dict, technique: str, reference: str, context: str = "") -> list:
    """Intended-class error and class-conditional KID of two rows, paired over seeds (lower is better for both)."""
    from ..core.result import Comparison

    out = []
    kid_floor = measured.anchors.get("kid_floor_sd", 0.0)
    for metric, key, floor in (("class_error", "class_error", 1.0), ("class_kid", "class_kid", kid_floor)):
        t, r = recorders[technique].scores()[key], recorders[reference].scores()[key]
        ref_value = float(np.mean(r))
        margin = stats.margin_for(ref_value, floor)
        iv = stats.paired(t, r, margin)
        row = measured.row(reference)
        out.append(Comparison(
            technique=technique, reference=reference,
            reference_role=row.role if row.role != "technique" else "reference", metric=metric,
            technique_value=float(np.mean(t)), reference_value=ref_value, difference=iv.difference,
            ci_low=iv.low, ci_high=iv.high, verdict=iv.verdict, margin=margin, seeds=iv.seeds,
            n_samples=row.n_samples, context=context))
    return out


# ---------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------


def _method(label: str, labelled: Labelled, steps: int, nfe: float, role: str, recorder: Recorder, make_denoiser,
            labels_for, extra: dict) -> harness.Method:
    """DDIM at `steps` with the denoiser `make_denoiser(net, y)`, the network labelled with `labels_for(y)`."""

    def fn(noise, seed, net):
        y = intended(noise.shape[0], noise.device)
        with labelled.given(labels_for(y)):
            images = harness.sample(make_denoiser(net, y), make_scheduler("ddim"), noise, steps=steps)
        return recorder.add(seed, y, images)

    return harness.Method(label, fn, nfe, role, report=recorder.report,
                          extra={"sampler": "ddim", "steps": steps, **extra, **describe(make_scheduler("ddim"))})


def _null(y: torch.Tensor) -> torch.Tensor:
    return torch.full_like(y, NULL_CLASS)


def unguided_method(labelled: Labelled, steps: int, role: str, recorder: Recorder,
                    conditional: bool = True) -> harness.Method:
    """Plain sampling of the conditional model (asked for the intended digit) or of its null class."""
    kind = "cond" if conditional else "uncond"
    return _method(f"DDIM {steps} {kind}", labelled, steps, steps, role, recorder, lambda net, y: net,
                   (lambda y: y) if conditional else _null, {"guidance": "none", "model": kind, "scale": None})


def cfg_method(labelled: Labelled, steps: int, w: float, recorder: Recorder) -> harness.Method:
    """Classifier-free guidance at scale w: 2 NFE per step (one call on the doubled batch)."""
    return _method(f"DDIM {steps} CFG w={w:g}", labelled, steps, 2 * steps, "technique", recorder,
                   lambda net, y: cfg_denoiser(net, w), lambda y: torch.cat([y, _null(y)]),
                   {"guidance": "classifier-free", "model": "cond", "scale": w})


def cg_method(labelled: Labelled, steps: int, s: float, on: str, classifier: NoisyClassifier, recorder: Recorder,
              flop_fraction: float) -> harness.Method:
    """Classifier guidance at scale s on the conditional (`cond`) or unconditional (`uncond`) prediction."""
    ac = training_scheduler().alphas_cumprod
    return _method(f"DDIM {steps} CG s={s:g} ({on})", labelled, steps, steps, "technique", recorder,
                   lambda net, y: cg_denoiser(net, classifier, y, s, ac), (lambda y: y) if on == "cond" else _null,
                   {"guidance": "classifier", "model": on, "scale": s,
                    "cost_in_unet_steps": round(steps * flop_fraction, 2)})


@torch.no_grad()
def step_flops(unet, classifier: NoisyClassifier, device: torch.device) -> tuple[float, float]:
    """FLOPs of one UNet call and of one classifier forward+backward on one sample (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    x, t, y = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE, device=device), torch.tensor([500], device=device), intended(1)
    out = []
    for fn in (lambda: unet(x, t, class_labels=y.to(device)), lambda: classifier_gradient(classifier, x, t, y)):
        counter = FlopCounterMode(display=False)
        with counter:
            fn()
        out.append(float(counter.get_total_flops()))
    return out[0], out[1]


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------


def _methods(params: dict, labelled: Labelled, classifier: NoisyClassifier, fraction: float, cg_equal: int):
    """Every row of the run, and each row's recorder of class scores (by label)."""
    n, steps = params["n_samples"], params["steps"]
    recorders: dict[str, Recorder] = {}

    def tracked(make) -> harness.Method:
        rec = Recorder(n, min(params["batch"], n), params["seeds"])
        method = make(rec)
        recorders[method.label] = rec
        return method

    # unguided conditional rows by step count: full-cost, the equal-cost ones, the same-steps control
    roles = {params["baseline_steps"]: "full-cost"}
    roles.setdefault(2 * steps, "equal-cost")
    roles.setdefault(cg_equal, "equal-cost")
    roles.setdefault(steps, "reference")
    base = {k: tracked(lambda rec, k=k: unguided_method(labelled, k, roles[k], rec))
            for k in sorted(roles, reverse=True)}
    uncond = tracked(lambda rec: unguided_method(labelled, steps, "reference", rec, conditional=False))
    techniques = [tracked(lambda rec, w=w: cfg_method(labelled, steps, w, rec)) for w in params["cfg_scales"]]
    techniques += [tracked(lambda rec, s=s, on=on: cg_method(labelled, steps, s, on, classifier, rec, fraction))
                   for on in params["cg_model"] for s in params["cg_scales"]]
    return base, uncond, techniques, recorders


def _comparisons(params, measured, recorders, base, uncond, techniques, cg_equal) -> tuple[list, list]:
    """Each guided run against the full-cost row, its equal-cost row and the same-steps control (and uncond):
    FD and KID (the harness's comparisons), and the class-conditional pair (intended-class error, class KID)."""
    steps = params["steps"]
    full, control = base[params["baseline_steps"]].label, base[steps].label
    general, classes = [], []
    for m in techniques:
        equal = base[2 * steps if m.extra["guidance"] == "classifier-free" else cg_equal].label
        references = {full: "", equal: f"equal cost: {_cost_note(measured, m.label, equal)}"}  # equal may be full
        references.setdefault(control, "same steps, unguided")
        if m.extra["model"] == "uncond":
            references[uncond.label] = "same steps, the same unconditional prediction unguided"
        for ref, note in references.items():
            general += measured.compare(m.label, ref, note)
            classes += compare_classes(measured, recorders, m.label, ref, note)
    classes += compare_classes(measured, recorders, uncond.label, control, "what the label alone buys")
    return general, classes


def _class_findings(measured, classes: list) -> list[str]:
    """One generated sentence per pair of the class-conditional comparisons (as the result's own findings)."""
    from ..core.result import finding

    pairs: dict[tuple[str, str], list] = {}
    for c in classes:
        pairs.setdefault((c.technique, c.reference), []).append(c)
    return ["Class-conditional: " + finding(cs, measured.row(t), measured.row(r)) for (t, r), cs in pairs.items()]


def run(params: dict, ctx: RunContext):
    # 1. models: the committed conditional UNet (as a labelled net(x, t)) and the noise-aware classifier
    ctx.progress.report(0.0, "loading the conditional UNet and the noise-aware classifier")
    unet, classifier, where = load_models(ctx.device)
    labelled = Labelled(unet)
    # 2. cost of a classifier-guided step in UNet calls, measured, and the FLOP-equal unguided step count
    unet_flops, clf_flops = step_flops(unet, classifier, ctx.device)
    fraction = (unet_flops + clf_flops) / unet_flops
    cg_equal = max(params["steps"], round(params["steps"] * fraction))
    # 3. methods: unguided baselines and controls, CFG at each w, classifier guidance at each s
    base, uncond, techniques, recorders = _methods(params, labelled, classifier, fraction, cg_equal)
    # 4. measure, all in one run, repeats interleaved
    rows = sorted(base.values(), key=lambda m: m.role != "full-cost") + [uncond] + techniques  # full-cost first
    measured = harness.measure_all(rows, labelled, ctx, params)
    # 5. verdicts, paired over seeds: FD and KID (harness), intended-class error and class-conditional KID
    comparisons, classes = _comparisons(params, measured, recorders, base, uncond, techniques, cg_equal)
    # 6. result
    notes = [
        f"Cost of a classifier-guided step, measured: UNet call {unet_flops / 1e6:.2f} MFLOPs, classifier forward + "
        f"backward {clf_flops / 1e6:.2f} MFLOPs, so {fraction:.3f} UNet calls; its FLOP-equal unguided run has "
        f"{cg_equal} steps. CFG costs 2 UNet calls per step (counted: its NFE column).",
        "FD and KID compare the whole class-balanced set with the held-out digits (stratified): an unconditional "
        "reading that penalises wrong classes and lost diversity alike. class_error (the share of samples the "
        "project's digits classifier puts in another class than asked, %) and class_kid (KID x 1000 per asked "
        "class against the held-out digits of that class, mean over classes) are the class-conditional reading; "
        "both are paired over seeds like FD (margins: 1 percentage point, and the KID floor's sd); their verdicts "
        "are the table 'class_comparisons' and the 'Class-conditional' notes below.",
        "The guidance classifier is not the scoring classifier: guidance climbs the noise-aware classifier's "
        "log-probability, the score uses the project's clean-digits classifier (both saw the same training digits).",
        "Sampler: DDIM only (the guidance papers' deterministic sampler); 'uncond' is the same network with the null "
        "label. class_spread is the mean within-class feature spread relative to the held-out digits' (1 = as "
        "diverse as the data); recall falls when guidance gives diversity away.",
    ] + _class_findings(measured, classes)
    info = harness.model_info(unet, where["unet"], conditional_key(), classifier_key=classifier_key(),
                              classifier_source=where["classifier"], train_config=GUIDANCE_TRAIN.to_dict(),
                              num_class_embeds=NUM_CLASSES + 1)
    table = [{"call": "conditional UNet (one sample)", "mflops": round(unet_flops / 1e6, 3)},
             {"call": "noise-aware classifier forward + backward (one sample)", "mflops": round(clf_flops / 1e6, 3)},
             {"call": "classifier-guided step (both)", "mflops": round((unet_flops + clf_flops) / 1e6, 3)}]
    tables = {"step_flops": table, "class_comparisons": [asdict(c) for c in classes]}
    return harness.result(measured, comparisons, params, model=info, notes=notes, tables=tables,
                          equal_cost="unguided conditional DDIM at twice the steps for CFG (its NFE) and at the "
                                     "FLOP-equal step count for classifier guidance")


def _cost_note(measured, tech: str, ref: str) -> str:
    t, r = measured.row(tech), measured.row(ref)
    bits = [f"NFE {t.nfe:g} vs {r.nfe:g}"]
    if t.flops_per_sample and r.flops_per_sample:
        bits.append(f"FLOPs/sample {t.flops_per_sample / 1e6:.1f}M vs {r.flops_per_sample / 1e6:.1f}M")
    return ", ".join(bits)


def _check(params: dict) -> None:
    if params["width"] != 1 or params["image_size"] != 16:
        raise ParamError("parameters 'width'/'image_size': the guidance demo's conditional UNet and classifier exist "
                         "only at the default scale; use width=1 and image_size=16")
    if params["baseline_steps"] < 2 * params["steps"]:
        raise ParamError(f"parameter 'baseline_steps': {params['baseline_steps']} is fewer than twice 'steps' "
                         f"({2 * params['steps']}, the NFE of CFG); the full-cost baseline must cost the most")
    if not checkpoints_present():
        raise ParamError("the guidance demo's conditional UNet and noise-aware classifier have no trained weights "
                         "here; run 'python -m reference_impls.train guidance'")


DEMO = Demo(
    id="guidance",
    title="Guidance: classifier guidance and classifier-free guidance vs unguided sampling at equal cost",
    summary="A class-conditional UNet (fine-tuned from the teacher with label dropout) sampled unguided, with "
            "classifier-free guidance (2 NFE/step) and with a noise-aware classifier's gradient; against unguided "
            "sampling at the same NFE or FLOPs. Fidelity (intended-class error, confidence) against diversity.",
    nodes=("ulhaq2022:eds.guidance.guided", "ulhaq2022:eds.guidance.not_guided", "ma2024:part2.conditioning"),
    papers=("diffusion-models-beat-gans-2021", "classifier-free-guidance-2021"),
    params=common(n_samples=(100, 1000), seeds=(3, 5)) + (
        Param(name="steps", type=int, quick=8, full=25, lo=2, hi=500,
              help="DDIM steps of every guided run and of the same-steps unguided control"),
        Param(name="baseline_steps", type=int, quick=16, full=200, lo=4, hi=1000,
              help="DDIM steps of the full-cost baseline (unguided conditional; at least twice 'steps')"),
        Param(name="cfg_scales", type=float, many=True, quick=[2.0], full=[1.5, 2.0, 3.0, 4.0, 6.0], lo=0.0,
              hi=20.0, help="classifier-free guidance scales w in v_u + w (v_c - v_u): 1 = conditional, "
                            "0 = unconditional"),
        Param(name="cg_scales", type=float, many=True, quick=[1.0], full=[0.5, 1.0, 2.0, 4.0, 8.0], lo=0.0,
              hi=100.0, help="classifier guidance scales s in eps - s sigma_t grad log p(y | x_t): 0 = unguided"),
        Param(name="cg_model", type=str, many=True, quick=["cond"], full=list(CG_MODELS), choices=CG_MODELS,
              help="what classifier guidance steers: the conditional prediction (ADM-G) or the unconditional one"),
    ),
    run=run,
    check=_check,
    smoke=dict(n_samples=50, seeds=2, batch=50, steps=4, baseline_steps=8, cfg_scales=[3.0], cg_scales=[2.0]),
    module=__name__,
    same_cost_per_nfe=False,  # a classifier-guided step costs one NFE plus the classifier's forward and backward
    quick_seconds=32,  # measured 2026-12-02 06:50: time diffatlas demo run guidance --quick (one CFG and one
                       # classifier-guidance scale; the larger scales are in full), 2 threads, load average about 1
    full_seconds=25000,  # NOT measured: the quick run's sampling time (142 s) scaled by the full configuration's
                         # NFE (~10x), samples (10x) and seeds (5/3) on the same loaded CPU; meant for a GPU
)
