"""Truncated sampling: skip part of the reverse chain.

Two techniques, one demo.

1. Early-stopped / truncated diffusion (ES-DDPM, Lyu et al. 2022; TDPM,
   Zheng et al. 2022/2023). The first reverse steps only turn noise into a
   rough sketch; a cheap generative model can produce that sketch directly.
   Sample x0' from the cheap prior, noise it to step T' < T with the forward
   process q(x_T' | x0'), and run only the last T' steps of the ancestral
   chain. Cost falls by T/T'. The cheap prior here is a 10-component Gaussian
   mixture in a 40-dimensional PCA space of the training digits (scikit-learn;
   sampling it is essentially free). A control starts at T' from pure noise,
   to show that the prior is what makes truncation work.

2. Retrieval (ReDi, Zhang et al. 2023). Build a knowledge base of sampling
   trajectories once: for `bank_size` noises, store the DDIM state after
   `key_step` steps (the key) and after `value_step` steps (the value). At
   generation time, run the first `key_step` steps, find the nearest key,
   jump to its value, and finish the remaining steps: NFE = key_step +
   (steps - value_step). The bank is built once per run and its cost is
   reported separately (it is amortised over all later samples).

Baselines, measured in the same run: the full chain (ancestral DDPM over
`chain_steps`, and DDIM over `ddim_steps` for retrieval) and the equal-cost
baseline (the same sampler from pure noise with as many steps as the
technique spends).

Catalog papers: es-ddpm-2022,
truncated-diffusion-probabilistic-models-2023, redi-2023,
denoising-diffusion-probabilistic-models-2020.
"""

from __future__ import annotations

import time
from functools import lru_cache

import numpy as np
import torch

from ..core import harness
from ..core.data import digits_split
from ..core.schedulers import make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import teacher_for


# ---------------------------------------------------------------------------
# the cheap prior
# ---------------------------------------------------------------------------


@lru_cache(maxsize=2)
def cheap_prior(size: int, components: int = 10, dims: int = 40, seed: int = 0):
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    x = digits_split(size).train_x.flatten(1).numpy()
    pca = PCA(dims, random_state=seed).fit(x)
    gmm = GaussianMixture(components, covariance_type="full", random_state=seed).fit(pca.transform(x))
    return pca, gmm


def prior_sample(n: int, seed: int, size: int) -> torch.Tensor:
    pca, gmm = cheap_prior(size)
    rng = np.random.default_rng(seed)
    comp = rng.choice(len(gmm.weights_), size=n, p=gmm.weights_)
    chol = [np.linalg.cholesky((c + c.T) / 2 + 1e-6 * np.eye(len(c))) for c in gmm.covariances_]
    eps = rng.standard_normal((n, gmm.means_.shape[1]))
    z = np.stack([gmm.means_[c] + chol[c] @ e for c, e in zip(comp, eps)])
    x = pca.inverse_transform(z).reshape(n, 1, size, size)
    return torch.from_numpy(x).float().clamp(-1, 1)


# ---------------------------------------------------------------------------
# truncated ancestral chain
# ---------------------------------------------------------------------------


def chain_timesteps(chain_steps: int, start: int) -> list[int]:
    """The ancestral chain's timesteps (stride 1000/chain_steps) that lie below `start`."""
    stride = 1000 // chain_steps
    return [t for t in range(999, -1, -stride) if t < start] if start < 1000 else list(range(999, -1, -stride))


def uniform_timesteps(k: int) -> list[int]:
    """Exactly k timesteps spread evenly from 999 down (for the equal-cost chain)."""
    return sorted({int(round(999 - i * 1000 / k)) for i in range(k)}, reverse=True)


def ancestral_method(label: str, chain_steps: int, start: int, prior: str, role: str,
                     timesteps: list[int] | None = None) -> harness.Method:
    """The ancestral DDPM chain over the timesteps below `start`, from pure noise or from the noised cheap prior."""
    ts = timesteps or chain_timesteps(chain_steps, start)

    def fn(noise, seed, net):
        sched = make_scheduler("ddpm")
        gen = torch.Generator(device=noise.device).manual_seed(seed + 11)
        if prior == "noise":
            return harness.sample(net, sched, noise, timesteps=ts, generator=gen)
        # x_T' ~ q(x_T' | x0') = N(sqrt(abar_T') x0', (1 - abar_T') I), x0' from the cheap prior
        x0 = prior_sample(noise.shape[0], seed, noise.shape[-1]).to(noise.device)
        fresh = torch.randn(noise.shape, generator=torch.Generator().manual_seed(seed + 13)).to(noise.device)
        x = sched.add_noise(x0, fresh, torch.tensor([ts[0]]))
        return harness.sample(net, sched, x, timesteps=ts, from_noise=False, generator=gen)

    spacing = "even, from 999" if timesteps else f"stride {1000 // chain_steps}"
    return harness.Method(label, fn, len(ts), role, extra={"part": "truncation", "start_t": ts[0], "prior": prior,
                                                           "steps": len(ts), "spacing": spacing})


def prior_only_method() -> harness.Method:
    return harness.Method("cheap prior alone (GMM)",
                          lambda noise, seed, net: prior_sample(noise.shape[0], seed, noise.shape[-1]), 0,
                          "reference", extra={"part": "truncation", "prior": "cheap", "steps": 0})


# ---------------------------------------------------------------------------
# ReDi-style retrieval
# ---------------------------------------------------------------------------


def ddim_partial(net, x: torch.Tensor, steps: int, begin: int, end: int) -> torch.Tensor:
    """Run DDIM steps [begin, end) of a `steps`-step DDIM schedule from state x."""
    return harness.sample(net, make_scheduler("ddim"), x, steps=steps, begin=begin, end=end, from_noise=begin == 0)


def build_bank(model, bank_size: int, steps: int, key_step: int, value_step: int, device, batch: int, size: int,
               progress=None):
    started = time.perf_counter()
    net = harness.CountingModel(model, progress)
    keys, values = [], []
    for b0 in range(0, bank_size, batch):
        m = min(batch, bank_size - b0)
        x = harness.make_noise(m, 555555 + b0, device, size)  # bank seeds, disjoint from evaluation seeds
        k = ddim_partial(net, x, steps, 0, key_step)
        v = ddim_partial(net, k, steps, key_step, value_step)
        keys.append(k.flatten(1))
        values.append(v)
        if progress:
            progress.report((b0 + m) / bank_size, f"building the trajectory bank: {b0 + m}/{bank_size}")
    return torch.cat(keys), torch.cat(values), {"bank_seconds": time.perf_counter() - started,
                                                  "bank_nfe_total": net.samples}


def retrieval_method(bank, steps: int, key_step: int, value_step: int) -> harness.Method:
    keys, values, _ = bank
    used: set = set()

    def fn(noise, seed, net):
        x = ddim_partial(net, noise, steps, 0, key_step)
        d = torch.cdist(x.flatten(1), keys)
        idx = d.argmin(1)
        used.update(idx.tolist())
        return ddim_partial(net, values[idx].clone(), steps, value_step, steps)

    nfe = key_step + steps - value_step
    return harness.Method(f"ReDi retrieval {nfe}", fn, nfe, "technique",
                          extra={"part": "retrieval", "steps": nfe, "key_step": key_step, "value_step": value_step,
                                 "spacing": "leading (DDIM default)"},
                          report=lambda: {"distinct_neighbours": len(used)})


def ddim_method(label: str, steps: int, role: str) -> harness.Method:
    def fn(noise, seed, net):
        return ddim_partial(net, noise, steps, 0, steps)
    return harness.Method(label, fn, steps, role,
                          extra={"part": "retrieval", "steps": steps, "spacing": "leading (DDIM default)"})


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------


def _truncation_labels(chain: int, frac: float) -> tuple[str, str, str, int]:
    start = int(round(1000 * frac))
    k = len(chain_timesteps(chain, start))
    return (f"truncated at t={start} from GMM prior ({k} steps)", f"truncated at t={start} from pure noise ({k} steps)",
            f"DDPM ancestral {k} (equal cost)", start)


def run(params: dict, ctx: RunContext):
    progress, chain, size = ctx.progress, params["chain_steps"], params["image_size"]
    # 1. model and the cheap prior
    progress.stage(0.0, 0.02)
    model, info = teacher_for(ctx, params)
    started = time.perf_counter()
    cheap_prior(size)
    prior_fit_s = time.perf_counter() - started
    # 2. truncation: the full chain, the prior alone, and per start point the technique, its control, equal cost
    full = ancestral_method(f"DDPM ancestral {chain}", chain, 1000, "noise", "full-cost")
    methods = [full, prior_only_method()]
    for frac in params["truncate_at"]:
        tech, control, equal, start = _truncation_labels(chain, frac)
        k = len(chain_timesteps(chain, start))
        methods += [ancestral_method(tech, chain, start, "cheap", "technique"),
                    ancestral_method(control, chain, start, "noise", "reference"),
                    ancestral_method(equal, k, 1000, "noise", "equal-cost", uniform_timesteps(k))]
    # 3. retrieval: the trajectory bank (paid once), DDIM at full steps, ReDi, DDIM at ReDi's cost
    steps, key_step, value_step = params["ddim_steps"], params["key_step"], params["value_step"]
    bank = redi = None
    if params["retrieval"]:
        progress.stage(0.02, 0.1)
        bank = build_bank(model, params["bank_size"], steps, key_step, value_step, ctx.device, params["batch"], size,
                          progress)
        redi = retrieval_method(bank, steps, key_step, value_step)
        methods += [ddim_method(f"DDIM {steps}", steps, "full-cost"), redi,
                    ddim_method(f"DDIM {redi.nfe:.0f} (equal cost)", int(redi.nfe), "equal-cost")]
    # 4. measure
    measured = harness.measure_all(methods, model, ctx, params)
    # 5. verdicts
    comparisons = []
    for frac in params["truncate_at"]:
        tech, control, equal, _ = _truncation_labels(chain, frac)
        comparisons += measured.compare(tech, full.label) + measured.compare(tech, equal)
        comparisons += measured.compare(tech, control, "same truncation without the prior")
    notes = [f"cheap prior: GMM(10) in 40-d PCA space, fitted in {prior_fit_s:.1f}s; its samples cost no network "
             "evaluations (and its NumPy work is not in the FLOP count)"]
    if redi is not None:
        comparisons += measured.compare(redi.label, f"DDIM {steps}")
        comparisons += measured.compare(redi.label, f"DDIM {redi.nfe:.0f} (equal cost)")
        row = measured.row(redi.label)
        notes.append(f"trajectory bank: {params['bank_size']} trajectories built in {bank[2]['bank_seconds']:.1f}s "
                     f"({bank[2]['bank_nfe_total'] / params['bank_size']:.0f} NFE each, paid once, not counted per "
                     f"sample); {row.extra['distinct_neighbours']} distinct neighbours retrieved for "
                     f"{row.n_samples * row.seeds} samples: retrieval caps diversity at the bank's")
    return harness.result(measured, comparisons, params, model=info, notes=notes,
                          equal_cost="the same sampler from pure noise with as many steps as the technique spends")


def _check(params: dict) -> None:
    chain = params["chain_steps"]
    if 1000 % chain:
        raise ParamError(f"parameter 'chain_steps': {chain} must divide 1000 (e.g. 100, 200, 250, 500, 1000)")
    for frac in params["truncate_at"]:
        if not chain_timesteps(chain, int(round(1000 * frac))):
            raise ParamError(f"parameter 'truncate_at': {frac} leaves no step of a {chain}-step chain; start later")
    if params["retrieval"] and not 0 < params["key_step"] < params["value_step"] <= params["ddim_steps"]:
        raise ParamError("parameters 'key_step', 'value_step', 'ddim_steps': retrieval needs 0 < key_step < value_step "
                         f"<= ddim_steps; got {params['key_step']}, {params['value_step']}, {params['ddim_steps']}")


DEMO = Demo(
    id="truncated",
    title="Truncated sampling: early stop from a cheap prior (ES-DDPM/TDPM) and trajectory retrieval (ReDi)",
    summary="Start the reverse chain part-way from a cheap generative prior, or jump along a retrieved trajectory; cost and quality vs the full chain and an equal-cost chain.",
    nodes=("shen2025:algorithm.sampling.truncated", "ma2024:part5.truncated"),
    papers=("es-ddpm-2022", "truncated-diffusion-probabilistic-models-2023", "redi-2023",
            "denoising-diffusion-probabilistic-models-2020"),
    params=common(n_samples=(200, 500), seeds=(4, 5)) + (
        Param(name="chain_steps", type=int, quick=40, full=250, lo=10, hi=1000,
              help="steps of the full ancestral chain (divides 1000)"),
        Param(name="truncate_at", type=float, many=True, quick=[0.3], full=[0.2, 0.4], lo=0.01, hi=0.99,
              help="where the chain starts, as a fraction of T (comma-separated)"),
        Param(name="retrieval", type=bool, quick=True, full=True, help="also run the ReDi-style retrieval part"),
        Param(name="ddim_steps", type=int, quick=10, full=50, lo=4, hi=1000, help="DDIM steps of the retrieval baseline"),
        Param(name="key_step", type=int, quick=2, full=5, lo=1, hi=999, help="DDIM steps run before the lookup"),
        Param(name="value_step", type=int, quick=6, full=35, lo=2, hi=1000,
              help="DDIM step the retrieved trajectory jumps to"),
        Param(name="bank_size", type=int, quick=400, full=2000, lo=10, hi=100000,
              help="trajectories in the knowledge base"),
    ),
    run=run,
    check=_check,
    smoke=dict(n_samples=64, seeds=2, chain_steps=20, truncate_at=[0.3], ddim_steps=8, key_step=2, value_step=5, bank_size=64),
    module=__name__,
    quick_seconds=35,
    full_seconds=940,
)
