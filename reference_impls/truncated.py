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

from . import harness, metrics, substrate
from .registry import Demo, Param, RunContext
from .solvers import make_scheduler


# ---------------------------------------------------------------------------
# the cheap prior
# ---------------------------------------------------------------------------


@lru_cache(maxsize=2)
def cheap_prior(components: int = 10, dims: int = 40, seed: int = 0):
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    x = substrate.digits_split().train_x.reshape(-1, substrate.IMAGE_SIZE ** 2).numpy()
    pca = PCA(dims, random_state=seed).fit(x)
    gmm = GaussianMixture(components, covariance_type="full", random_state=seed).fit(pca.transform(x))
    return pca, gmm


def prior_sample(n: int, seed: int) -> torch.Tensor:
    pca, gmm = cheap_prior()
    rng = np.random.default_rng(seed)
    comp = rng.choice(len(gmm.weights_), size=n, p=gmm.weights_)
    chol = [np.linalg.cholesky((c + c.T) / 2 + 1e-6 * np.eye(len(c))) for c in gmm.covariances_]
    eps = rng.standard_normal((n, gmm.means_.shape[1]))
    z = np.stack([gmm.means_[c] + chol[c] @ e for c, e in zip(comp, eps)])
    x = pca.inverse_transform(z).reshape(n, 1, substrate.IMAGE_SIZE, substrate.IMAGE_SIZE)
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
    ts = timesteps or chain_timesteps(chain_steps, start)

    def fn(noise, seed, net):
        sched = make_scheduler("ddpm")
        gen = torch.Generator(device=noise.device).manual_seed(seed + 11)
        sched.set_timesteps(timesteps=ts, device=noise.device)
        if prior == "cheap":
            x0 = prior_sample(noise.shape[0], seed).to(noise.device)
            fresh = torch.randn(noise.shape, generator=torch.Generator().manual_seed(seed + 13)).to(noise.device)
            x = sched.add_noise(x0, fresh, torch.tensor([ts[0]]))
        else:
            x = noise
        for t in sched.timesteps:
            out = net(x, t)
            x = sched.step(out, t, x, generator=gen).prev_sample
        return x

    return harness.Method(label, fn, len(ts), role, {"part": "truncation", "start_t": ts[0], "prior": prior,
                                                      "steps": len(ts),
                                                      "spacing": "even, from 999" if timesteps else f"stride {1000 // chain_steps}"})


def prior_only_method() -> harness.Method:
    return harness.Method("cheap prior alone (GMM)", lambda noise, seed, net: prior_sample(noise.shape[0], seed), 0,
                          "reference", {"part": "truncation", "prior": "cheap", "steps": 0})


# ---------------------------------------------------------------------------
# ReDi-style retrieval
# ---------------------------------------------------------------------------


@torch.no_grad()
def ddim_partial(net, x: torch.Tensor, steps: int, begin: int, end: int) -> torch.Tensor:
    """Run DDIM steps [begin, end) of a `steps`-step DDIM schedule from state x."""
    sched = make_scheduler("ddim")
    sched.set_timesteps(steps, device=x.device)
    for t in sched.timesteps[begin:end]:
        x = sched.step(net(x, t), t, x).prev_sample
    return x


def build_bank(model, bank_size: int, steps: int, key_step: int, value_step: int, device, batch: int, progress=None):
    started = time.perf_counter()
    net = harness.CountingModel(model, progress)
    keys, values = [], []
    for b0 in range(0, bank_size, batch):
        m = min(batch, bank_size - b0)
        x = harness.make_noise(m, 555555 + b0, device)  # bank seeds, disjoint from evaluation seeds
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
    method = harness.Method(f"ReDi retrieval {nfe}", fn, nfe, "technique",
                            {"part": "retrieval", "steps": nfe, "key_step": key_step, "value_step": value_step,
                             "spacing": "leading (DDIM default)"})
    method.info["_used"] = used
    return method


def ddim_method(label: str, steps: int, role: str) -> harness.Method:
    def fn(noise, seed, net):
        return ddim_partial(net, noise, steps, 0, steps)
    return harness.Method(label, fn, steps, role, {"part": "retrieval", "steps": steps, "spacing": "leading (DDIM default)"})


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------


def run(params: dict, ctx: RunContext) -> dict:
    device, progress = ctx.device, ctx.progress
    progress.stage(0.0, 0.03).report(0.0, "loading the substrate model and fitting the cheap prior")
    model, source = substrate.load_teacher(device=device)
    started = time.perf_counter()
    cheap_prior()
    prior_fit_s = time.perf_counter() - started
    harness.warm_up(model, device, params["batch"])
    n, seeds, batch = params["n_samples"], list(range(params["seeds"])), params["batch"]
    chain = params["chain_steps"]
    if 1000 % chain:
        from .registry import ParamError

        raise ParamError(f"parameter 'chain_steps': {chain} must divide 1000 (e.g. 100, 200, 250, 500, 1000)")
    methods = [ancestral_method(f"DDPM ancestral {chain}", chain, 1000, "noise", "baseline"), prior_only_method()]
    for frac in params["truncate_at"]:
        start = int(round(1000 * frac))
        k = len(chain_timesteps(chain, start))
        methods.append(ancestral_method(f"truncated at t={start} from GMM prior ({k} steps)", chain, start, "cheap",
                                        "technique"))
        methods.append(ancestral_method(f"truncated at t={start} from pure noise ({k} steps)", chain, start, "noise",
                                        "reference"))
        methods.append(ancestral_method(f"DDPM ancestral {k} (equal cost)", k, 1000, "noise", "equal-cost",
                                        uniform_timesteps(k)))
    bank = None
    steps, key_step, value_step = params["ddim_steps"], params["key_step"], params["value_step"]
    if params["retrieval"]:
        if not 0 < key_step < value_step <= steps:
            from .registry import ParamError

            raise ParamError(f"retrieval needs 0 < key_step < value_step <= ddim_steps; got {key_step}, {value_step}, {steps}")
        progress.stage(0.03, 0.12)
        bank = build_bank(model, params["bank_size"], steps, key_step, value_step, device, batch, progress)
        redi = retrieval_method(bank, steps, key_step, value_step)
        methods += [ddim_method(f"DDIM {steps}", steps, "baseline-retrieval"), redi,
                    ddim_method(f"DDIM {redi.expected_nfe} (equal cost)", redi.expected_nfe, "equal-cost")]
    start_frac = progress.fraction
    total = sum(max(m.expected_nfe, 1) for m in methods)
    done, rows = 0, []
    for m in methods:
        w = max(m.expected_nfe, 1)
        progress.stage(start_frac + (0.97 - start_frac) * done / total, start_frac + (0.97 - start_frac) * (done + w) / total)
        used = m.info.pop("_used", None)
        rows.append(harness.measure(m, model, n, seeds, device, batch, progress, ctx.out_dir / "grids"))
        if used is not None:
            rows[-1]["distinct_neighbours"] = len(used)
        done += w
    harness.compare(rows, methods[0].label)
    by = {r["method"]: r for r in rows}
    notes = [f"cheap prior: GMM(10) in 40-d PCA space, fitted in {prior_fit_s:.1f}s; its samples cost no network evaluations"]
    for frac in params["truncate_at"]:
        start = int(round(1000 * frac))
        k = len(chain_timesteps(chain, start))
        tech = by[f"truncated at t={start} from GMM prior ({k} steps)"]
        notes.append(harness.verdict(tech, rows[0], f" [full chain; {tech['speedup']:.1f}x faster]"))
        notes.append(harness.verdict(tech, by[f"DDPM ancestral {k} (equal cost)"], " [equal-cost baseline]"))
        notes.append(harness.verdict(tech, by[f"truncated at t={start} from pure noise ({k} steps)"],
                                     " [same truncation without the prior]"))
    if bank is not None:
        redi = next(r for r in rows if r["method"].startswith("ReDi"))
        full = by[f"DDIM {steps}"]
        eq = next(r for r in rows if r["role"] == "equal-cost" and r["method"].startswith("DDIM"))
        redi["speedup_vs_ddim"] = full["wall_s"] / redi["wall_s"]
        notes.append(harness.verdict(redi, full, f" [full DDIM {steps}; {redi['speedup_vs_ddim']:.1f}x faster]"))
        notes.append(harness.verdict(redi, eq, " [equal-cost baseline]"))
        notes.append(f"trajectory bank: {params['bank_size']} trajectories built in {bank[2]['bank_seconds']:.1f}s "
                     f"({bank[2]['bank_nfe_total'] / max(params['bank_size'], 1):.0f} NFE each, paid once, not counted "
                     f"per sample); {redi.get('distinct_neighbours', '?')} distinct neighbours retrieved for "
                     f"{n * len(seeds)} samples: retrieval caps diversity at the bank's")
    return {
        "rows": rows,
        "baseline": methods[0].label,
        "equal_cost": "the same sampler from pure noise with as many steps as the technique spends",
        "anchors": metrics.anchors(n),
        "notes": notes,
        "chart": {"x": ["nfe", "wall_s"], "y": "fd"},
        **harness.provenance(rows, model, source),
    }


DEMO = Demo(
    id="truncated",
    title="Truncated sampling: early stop from a cheap prior (ES-DDPM/TDPM) and trajectory retrieval (ReDi)",
    summary="Start the reverse chain part-way from a cheap generative prior, or jump along a retrieved trajectory; cost and quality vs the full chain and an equal-cost chain.",
    nodes=("shen2025:algorithm.sampling.truncated", "ma2024:part5.truncated"),
    papers=("es-ddpm-2022", "truncated-diffusion-probabilistic-models-2023", "redi-2023",
            "denoising-diffusion-probabilistic-models-2020"),
    params=(
        Param("n_samples", "int", 200, 500, "samples per seed", 50, 5000),
        Param("seeds", "int", 2, 3, "noise seeds", 1, 10),
        Param("batch", "int", 200, 500, "batch size per network call", 1, 4096),
        Param("chain_steps", "int", 100, 250, "steps of the full ancestral chain (divides 1000)", 10, 1000),
        Param("truncate_at", "floats", [0.3], [0.2, 0.4], "where the chain starts, as a fraction of T (comma-separated)",
              0.01, 0.99),
        Param("retrieval", "bool", True, True, "also run the ReDi-style retrieval part"),
        Param("ddim_steps", "int", 20, 50, "DDIM steps of the retrieval baseline", 4, 1000),
        Param("key_step", "int", 3, 5, "DDIM steps run before the lookup", 1, 999),
        Param("value_step", "int", 12, 35, "DDIM step the retrieved trajectory jumps to", 2, 1000),
        Param("bank_size", "int", 400, 2000, "trajectories in the knowledge base", 10, 100000),
    ),
    run=run,
    module=__name__,
    quick_seconds=70,
    full_seconds=1050,
)
