"""Parallel sampling: more processors for the same samples, or the same sample sooner.

The technique
    Two different ways to put more than one processor to work on sampling.

    1. Data parallelism across processes (`torch.distributed`: gloo on the
       CPU, NCCL on GPUs, one rank per GPU). Every rank holds a copy of the
       model. For each batch, rank 0 broadcasts the initial noise, every rank
       runs the ordinary sequential DDIM on its contiguous shard of the batch,
       and the shards are all-gathered back on rank 0. No sample depends on
       another, so the gathered samples must equal the one-process run *bit for
       bit*, provided each network call does the same arithmetic: oneDNN's
       convolutions here are thread-count invariant but not batch-size
       invariant (one 64-sample call and two 32-sample calls differ by ~1e-6),
       so the one-process baseline samples each batch as the same R shards,
       one after the other. Every run checks the identity, seed by seed. This raises
       throughput (samples per second); the time to one sample is unchanged.
       The group of ranks is started once per run (`torch.multiprocessing`
       spawn, or `torchrun`; see Launching) and serves every repeat, so its
       start-up is paid once and reported on its own.

    2. ParaDiGMS (Shih et al., "Parallel Sampling of Diffusion Models",
       NeurIPS 2023): lower the *latency* of one sample by evaluating several
       steps of the same chain at once. Write the sequential sampler as
       x_{j+1} = x_j + d_j(x_j), with d_j(x) = Phi_j(x) - x the drift of DDIM
       step j (Phi_j is diffusers' DDIM update from timestep t_j to t_{j+1}).
       Picard iteration guesses every state of a window of p steps, evaluates
       all p drifts in ONE batched network call, and replaces the guesses by

           x_{j+1} <- x_k + sum_{l=k}^{j} d_l(x_l),      j = k .. k+p-1

       where x_k is the first state of the window. Repeated, this converges to
       the sequential chain (after at most p sweeps the window is exact), and
       the window slides forward as its first states settle. New states past
       the window are initialised with the newest state. Cost: more network
       evaluations (NFE), batched over the window; gain: fewer *sequential*
       network calls (the depth), which is what a parallel machine's latency
       follows. Two sliding rules are implemented:

       * fixed stride (the measured rows): the window advances `stride` =
         window / sweeps steps per sweep, so every state is refined `sweeps`
         times; NFE and depth are fixed in advance (as the harness requires);
         sweeps = window is exact (stride 1), fewer sweeps approximate it;
       * tolerance (ParaDiGMS' own rule; the batch-1 latency table): the window
         advances past the leading states whose update changed less than the
         tolerance, ||x_new - x_old||^2 / D <= tol^2 sigma_j^2 with sigma_j^2 the
         DDPM posterior variance of step j and D the pixels per sample (the
         final state must settle exactly: sigma = 0), as diffusers' deprecated
         StableDiffusionParadigmsPipeline does. Its NFE depends on the noise.

       The batched DDIM update is diffusers' `DDIMParallelScheduler.
       batch_step_no_noise` (it takes a timestep per sample); the Picard
       window, the tolerance rule and the fixed-stride variant are written here
       (diffusers has them only inside a deprecated text-to-image pipeline).

    Context, not run here: DistriFusion (Li et al., CVPR 2024) and PipeFusion
    (Fang et al. 2024, the xDiT project) split ONE high-resolution image into
    patches over GPUs and hide the communication behind one-step-stale
    activations; at 16x16 pixels on two CPU cores there is nothing to split but
    communication, so they are catalog entries only (xfuser needs CUDA/NCCL).

What is measured
    In one run, with shared noise seeds and paired verdicts: DDIM at `steps` in
    one process with the run's T threads (the full-cost baseline; depth =
    steps); the same DDIM data-parallel over R ranks x T/R threads (throughput
    ratio = its speed-up; start-up reported separately); on a CPU, the
    one-process DDIM with one rank's T/R threads (a control: the speed of one
    rank, and the run the ranks' samples must equal bit for bit; the identity
    with the T-thread baseline is reported as well); per (window, sweeps) the fixed-stride
    Picard DDIM (NFE per sample, depth, deviation from the sequential samples
    of the same noise) and the sequential DDIM with as many steps as that
    depth (the equal-cost baseline: equal latency on an ideal parallel machine
    that evaluates a whole window in the time of one step). Then a batch-1
    latency table, the regime ParaDiGMS targets: sequential DDIM, the Picard
    rows and the tolerance rule at each `tolerances` value, medians of
    interleaved repeats, with their NFE, depth and RMS deviation from the
    sequential sample. DDIM uses diffusers' default ("leading") spacing with
    x0 clipping.

What two CPU cores can and cannot show
    They can show that sharding is exact (bit-identical samples) and what the
    process group costs: start-up, broadcast and gather. They cannot show a
    data-parallel speed-up: two ranks of one thread use the same two cores as
    one process of two threads, so the best outcome is parity, and intra-op
    threading of a 450k-parameter UNet is already efficient at batch 250.
    With one GPU per rank (the full configuration uses every GPU present)
    the ideal is R x. For ParaDiGMS, at large batch the CPU is saturated, so
    the extra NFE cost wall time one for one (Picard rows are slower per
    sample); only at batch 1, where a 16x16 network call is dominated by
    per-call overhead and a window of p costs little more than one, can fewer
    sequential calls lower the latency here. On a GPU the window fills idle
    parallel hardware, which is the paper's setting.

Launching
    By itself: `diffatlas demo run parallel --quick` spawns R-1 worker
    processes (torch.multiprocessing, start method "spawn") that join rank 0,
    this process, over TCP on 127.0.0.1 (as with any spawn, a calling script
    needs the `if __name__ == "__main__":` guard; a worker that dies at start
    is reported at once, not after a timeout). Under torchrun every rank runs this
    module, rank 0 runs the demo and the others serve it:
    `torchrun --standalone --nproc_per_node=2 -m reference_impls.system.parallel --quick`
    (add `--param k=v`, `--json`; on a GPU machine `--nproc_per_node=<GPUs>`).

Catalog papers: parallel-sampling-diffusion-models-2023, denoising-diffusion-implicit-models-2021.
(Context only: distrifusion-2024, pipefusion-2024.)
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import socket
import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist

from ..core import harness
from ..core.device import DTYPES, sync
from ..core.model import SCHEDULE_CONFIG, Scale, make_unet
from ..core.schedulers import describe, make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import teacher_for

# ---------------------------------------------------------------------------
# 1. data parallelism: a persistent group of ranks
# ---------------------------------------------------------------------------

STOP, LOAD, SAMPLE = 0, 1, 2  # commands rank 0 broadcasts to the others
HEADER = 8                    # int64 slots of a command header
READY_SECONDS = 180           # workers must import torch and reach the store within this


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with `n` intra-op threads, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def shard(n: int, world: int, rank: int) -> tuple[int, int, int]:
    """Contiguous shard [lo, hi) of n samples for `rank`, and the padded shard size every rank sends."""
    per = math.ceil(n / world)
    lo = min(n, rank * per)
    return lo, min(n, lo + per), per


def ddim(net, noise: torch.Tensor, steps: int) -> torch.Tensor:
    """Sequential DDIM (diffusers, default spacing, clipped x0): the sampler every rank runs."""
    return harness.sample(net, make_scheduler("ddim"), noise, steps=steps)


def _sample_shard(net, noise: torch.Tensor, steps: int, world: int, rank: int) -> torch.Tensor:
    lo, hi, per = shard(noise.shape[0], world, rank)
    out = torch.zeros((per, *noise.shape[1:]), device=noise.device)
    if hi > lo:
        out[: hi - lo] = ddim(net, noise[lo:hi], steps)
    return out


def _comm_device(backend: str, device: torch.device) -> torch.device:
    return device if backend == "nccl" else torch.device("cpu")


def serve(rank: int, device: torch.device) -> None:
    """Every rank but 0: load the model rank 0 sends, then sample shards until told to stop."""
    backend = dist.get_backend()
    comm = _comm_device(backend, device)
    net = None
    while True:
        header = torch.zeros(HEADER, dtype=torch.int64, device=comm)
        dist.broadcast(header, 0)
        cmd, *args = header.tolist()
        if cmd == STOP:
            return
        if cmd == LOAD:  # [LOAD, width, image_size, threads, warm-up batch, precision]
            width, size, threads, batch, precision = args[:5]
            dtype = list(DTYPES)[precision]
            torch.set_num_threads(threads)
            model = make_unet(Scale(width, size)).to(device).eval()
            for tensor in model.state_dict().values():
                buf = tensor.detach().to(comm).contiguous()
                dist.broadcast(buf, 0)
                tensor.copy_(buf.to(tensor.device))
            harness.warm_up(model, device, max(1, math.ceil(batch / dist.get_world_size())), size, dtype)
            net = harness.CountingModel(model, dtype=dtype)
            dist.barrier()
        elif cmd == SAMPLE:  # [SAMPLE, n, channels, height, width, steps]
            n, c, h, w, steps = args[:5]
            noise = torch.empty((n, c, h, w), device=comm)
            dist.broadcast(noise, 0)
            net.reset()
            with torch.no_grad():
                out = _sample_shard(net, noise.to(device), steps, dist.get_world_size(), rank).to(comm)
            dist.all_gather([torch.empty_like(out) for _ in range(dist.get_world_size())], out)
            counts = torch.tensor([net.samples, net.calls], dtype=torch.int64, device=comm)
            dist.all_gather([torch.empty_like(counts) for _ in range(dist.get_world_size())], counts)


def _spawned(index: int, world: int, backend: str, port: int) -> None:
    """Entry point of a worker started by `RankGroup.start` (rank = index + 1)."""
    rank = index + 1
    device = torch.device(f"cuda:{rank}") if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    store = dist.TCPStore("127.0.0.1", port, world, is_master=False, timeout=timedelta(seconds=READY_SECONDS))
    store.set(f"ready/{rank}", "1")  # tells rank 0 this worker is up (it polls, so a worker that dies is seen)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=timedelta(seconds=300))
    try:
        serve(rank, device)
    finally:
        dist.destroy_process_group()


def _wait_for_workers(store, procs, world: int) -> None:
    """Wait until every worker has reached the store; fail at once (with its traceback) if one dies first."""
    deadline = time.perf_counter() + READY_SECONDS
    while procs is not None:
        procs.join(timeout=0.2)  # raises ProcessRaisedException / ProcessExitedException if a worker failed
        if all(store.check([f"ready/{r}"]) for r in range(1, world)):
            return
        if time.perf_counter() > deadline:
            for p in procs.processes:
                p.terminate()
            raise RuntimeError(f"{world - 1} worker process(es) did not start within {READY_SECONDS}s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RankGroup:
    """Rank 0 (this process) plus the workers serving it; started once per run."""

    world: int
    backend: str
    device: torch.device
    threads: int                  # intra-op threads per rank during data-parallel sampling
    own: bool                     # True: this group was created here (spawn); False: torchrun's
    startup_s: float = 0.0        # spawn + rendezvous + model broadcast + warm-up of the workers
    procs: object = None

    @classmethod
    def start(cls, world: int, backend: str, device: torch.device, threads: int, model, scale: Scale,
              batch: int, dtype: str = "fp32") -> "RankGroup":
        started = time.perf_counter()
        if dist.is_available() and dist.is_initialized():  # launched by torchrun: use its group
            if dist.get_rank() != 0:
                raise RuntimeError("the parallel demo runs on rank 0; the other ranks serve it")
            group = cls(dist.get_world_size(), dist.get_backend(), device, threads, own=False)
        else:
            import torch.multiprocessing as mp

            port = _free_port()
            store = dist.TCPStore("127.0.0.1", port, world, is_master=True, wait_for_workers=False,
                                  timeout=timedelta(seconds=READY_SECONDS))
            procs = mp.start_processes(_spawned, args=(world, backend, port), nprocs=world - 1, join=False,
                                       start_method="spawn") if world > 1 else None
            _wait_for_workers(store, procs, world)
            dist.init_process_group(backend, store=store, rank=0, world_size=world, timeout=timedelta(seconds=300))
            group = cls(world, backend, device, threads, own=True, procs=procs)
        try:
            group._command(LOAD, scale.width, scale.image_size, threads, batch, list(DTYPES).index(dtype))
            for tensor in model.state_dict().values():
                dist.broadcast(tensor.detach().to(group.comm).contiguous(), 0)
            dist.barrier()
        except BaseException:
            group.close(force=True)
            raise
        group.startup_s = time.perf_counter() - started
        return group

    @property
    def comm(self) -> torch.device:
        return _comm_device(self.backend, self.device)

    def _command(self, cmd: int, *args: int) -> None:
        header = torch.zeros(HEADER, dtype=torch.int64, device=self.comm)
        header[0] = cmd
        header[1:1 + len(args)] = torch.tensor(args, dtype=torch.int64)
        dist.broadcast(header, 0)

    def sample(self, net: harness.CountingModel, noise: torch.Tensor, steps: int) -> torch.Tensor:
        """DDIM over the ranks: broadcast the noise, sample the own shard, all-gather; count every rank's NFE."""
        n = noise.shape[0]
        with torch_threads(self.threads):
            self._command(SAMPLE, n, *noise.shape[1:], steps)
            dist.broadcast(noise.to(self.comm).contiguous(), 0)
            out = _sample_shard(net, noise, steps, self.world, 0).to(self.comm)
            shards = [torch.empty_like(out) for _ in range(self.world)]
            dist.all_gather(shards, out)
            counts = torch.zeros(2, dtype=torch.int64, device=self.comm)
            everyone = [torch.empty_like(counts) for _ in range(self.world)]
            dist.all_gather(everyone, counts)
        # the network evaluations of the other ranks count towards this method's NFE (not its network time)
        net.samples += int(sum(c[0] for c in everyone[1:]))
        net.calls += int(sum(c[1] for c in everyone[1:]))
        return torch.cat(shards)[:n].to(noise.device)

    def close(self, force: bool = False) -> None:
        """Stop the workers (a clean STOP, or terminate them after an error or a cancel) and leave the group."""
        if not (dist.is_available() and dist.is_initialized()):
            return
        if not force:
            self._command(STOP)
        if not self.own:
            return
        if self.procs is not None:
            if force:
                for p in self.procs.processes:
                    if p.is_alive():
                        p.terminate()
            for p in self.procs.processes:
                p.join(timeout=30)
        dist.destroy_process_group()


# ---------------------------------------------------------------------------
# 2. ParaDiGMS: Picard iterations over a sliding window of DDIM steps
# ---------------------------------------------------------------------------


def parallel_scheduler():
    """diffusers' DDIM with a batched, noise-free step, built from the training betas."""
    from diffusers import DDIMParallelScheduler

    return DDIMParallelScheduler(**SCHEDULE_CONFIG)


def picard_cost(steps: int, window: int, stride: int) -> tuple[int, int]:
    """(NFE per sample, depth) of the fixed-stride schedule: sum of window lengths, number of sweeps."""
    nfe, depth, begin = 0, 0, 0
    while begin < steps:
        nfe += min(begin + window, steps) - begin
        depth += 1
        begin += stride
    return nfe, depth


@dataclass
class PicardStats:
    sweeps: int = 0                       # batched network calls: the sequential depth
    evaluations: int = 0                  # drift evaluations per sample (NFE)
    advances: list = field(default_factory=list)


@torch.no_grad()
def picard_ddim(net, noise: torch.Tensor, steps: int, window: int, stride: int = 0, tolerance: float = 0.1,
                stats: Optional[PicardStats] = None) -> torch.Tensor:
    """DDIM at `steps` solved by Picard sweeps over a window of `window` steps.

    stride > 0: advance the window `stride` steps per sweep (fixed NFE and depth);
    stride = 0: advance past the leading states that settled within `tolerance` (ParaDiGMS' rule).

    Notation: buf[j] = x_j, the state before DDIM step j (buf[0] = noise, buf[N] = the sample);
    d_j(x) = Phi_j(x) - x, the drift of step j; [k, e) = the window of steps.
    """
    sched = parallel_scheduler()
    sched.set_timesteps(steps, device=noise.device)
    ts = sched.timesteps
    n_steps, batch = len(ts), noise.shape[0]
    window = min(window, n_steps)
    # sigma_j^2 = (1 - abar_{j+1}) / (1 - abar_j) * (1 - abar_j / abar_{j+1}): the DDPM posterior variance of step j,
    # ParaDiGMS' scale for the tolerance; the final state gets sigma = 0 (it must settle exactly)
    ac = sched.alphas_cumprod.to(noise.device)
    prev = ts - sched.config.num_train_timesteps // n_steps
    a_t, a_prev = ac[ts], torch.where(prev >= 0, ac[prev.clamp(min=0)], torch.ones_like(ac[ts]))
    var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
    inv_var = torch.cat([1 / var, torch.full((1,), float("inf"), device=noise.device)])  # index j -> state x_j
    pixels = noise[0].numel()
    buf = (noise * sched.init_noise_sigma).unsqueeze(0).repeat(n_steps + 1, *([1] * noise.ndim))
    k, e = 0, window
    stats = stats if stats is not None else PicardStats()
    while k < n_steps:
        length = e - k
        xs = buf[k:e]                                                      # guesses x_k .. x_{e-1}
        t = ts[k:e].repeat_interleave(batch)
        flat = xs.flatten(0, 1)
        out = net(sched.scale_model_input(flat, t), t)                     # one call: every step of the window
        phi = sched.batch_step_no_noise(model_output=out, timesteps=t, sample=flat).view_as(xs)
        # x_{j+1} <- x_k + sum_{l=k}^{j} d_l(x_l)
        new = buf[k].unsqueeze(0) + torch.cumsum(phi - xs, dim=0)
        # ||x_new - x_old||^2 / (D sigma^2) per state x_{k+1} .. x_e and sample (0 change counts as settled)
        change = (new - buf[k + 1:e + 1]).flatten(2).pow(2).sum(-1)
        ratio = torch.where(change == 0, torch.zeros_like(change), change * inv_var[k + 1:e + 1, None] / pixels)
        buf[k + 1:e + 1] = new
        if stride:
            advance = stride
        else:  # slide past the leading states whose change is within tolerance for every sample of the batch
            unsettled = (ratio > tolerance ** 2).any(dim=1).tolist() + [True]
            advance = min(unsettled.index(True) + 1, window)
        stats.sweeps += 1
        stats.evaluations += length
        stats.advances.append(advance)
        k2 = k + advance
        e2 = min(k2 + window, n_steps)
        if e2 > e:  # states entering the window start from the newest state
            buf[e + 1:e2 + 1] = buf[e].unsqueeze(0)
        k, e = k2, e2
    return buf[n_steps]


# ---------------------------------------------------------------------------
# the methods
# ---------------------------------------------------------------------------


def ddim_method(label: str, steps: int, role: str, keep: Optional[dict] = None, calls_like: int = 1,
                threads: Optional[int] = None, **extra) -> harness.Method:
    """Sequential DDIM in this process.

    `calls_like` = R splits every batch into the same R contiguous shards the ranks get and samples them one
    after the other, so each network call has the batch a rank's call has; `threads` runs it with a rank's
    intra-op thread count. oneDNN's convolutions here depend on both (a 64-sample call and two 32-sample calls
    differ by ~1e-6; so do 1 and 2 threads at batch 5), so only that run must equal the ranks' bit for bit.
    `keep` collects the outputs per (seed, shape) for the bit-identity check.
    """

    def fn(noise, seed, net):
        n = noise.shape[0]
        parts = [shard(n, calls_like, r)[:2] for r in range(calls_like)]
        with torch_threads(threads or torch.get_num_threads()):
            out = torch.cat([ddim(net, noise[lo:hi], steps) for lo, hi in parts if hi > lo])
        if keep is not None:
            keep[(seed, tuple(noise.shape))] = out.detach().cpu().clone()
        return out

    return harness.Method(label, fn, steps, role, extra=dict(extra, steps=steps, depth=steps,
                                                             **describe(make_scheduler("ddim"))))


def data_parallel_method(group_ref: dict, steps: int, keep: dict, batch: int) -> harness.Method:
    """The same DDIM sharded over the ranks of the run's group (started in run(), held in `group_ref`)."""

    def fn(noise, seed, net):
        out = group_ref["group"].sample(net, noise, steps)
        keep[(seed, tuple(noise.shape))] = out.detach().cpu().clone()
        return out

    g = group_ref["group"]
    label = f"DDIM {steps}, {g.world} ranks x {g.threads} thread{'s' if g.threads > 1 else ''} ({g.backend})"
    return harness.Method(label, fn, steps, "technique",
                          extra=dict(steps=steps, depth=steps, ranks=g.world, threads_per_rank=g.threads,
                                     call_batch=math.ceil(batch / g.world),
                                     backend=g.backend, startup_s=round(g.startup_s, 2),
                                     **describe(make_scheduler("ddim"))))


def picard_method(steps: int, window: int, sweeps: int, reference: dict, keep: dict) -> harness.Method:
    """Fixed-stride Picard DDIM; reports its RMS deviation from the sequential samples of the same noise."""
    stride = window // sweeps
    nfe, depth = picard_cost(steps, window, stride)
    label = f"Picard DDIM {steps} (window {window}, {sweeps} sweeps)"
    mine = keep.setdefault(label, {})

    def fn(noise, seed, net):
        out = picard_ddim(net, noise, steps, window, stride)
        mine[(seed, tuple(noise.shape))] = out.detach().cpu().clone()
        return out

    def report():  # after the repeats, when both methods have run every seed
        keys = [k for k in mine if k in reference]
        return {"rms_vs_sequential": max((float((mine[k] - reference[k]).pow(2).mean().sqrt()) for k in keys),
                                         default=None)}

    return harness.Method(label, fn, nfe, "technique",
                          extra=dict(steps=steps, depth=depth, window=window, sweeps=sweeps, stride=stride,
                                     spacing="leading", clip_sample=True, karras=False),
                          report=report)


# ---------------------------------------------------------------------------
# batch-1 latency: the regime ParaDiGMS targets
# ---------------------------------------------------------------------------


def _run_spec(net, z: torch.Tensor, spec: tuple) -> torch.Tensor:
    kind, steps, window, stride, tol = spec
    if kind == "ddim":
        return ddim(net, z, steps)
    return picard_ddim(net, z, steps, window, stride=stride, tolerance=tol)


def latency_table(model, ctx: RunContext, params: dict, picards: list[tuple[int, int]], depths: list[int]) -> list[dict]:
    """Batch-1 latency (median of interleaved repeats), NFE, depth and RMS deviation from the sequential sample."""
    steps = params["steps"]
    window = max((w for w, _ in picards), default=min(4, steps))
    specs: dict[str, tuple] = {f"DDIM {steps}": ("ddim", steps, 0, 0, 0.0)}
    for w, s in picards:
        specs[f"Picard DDIM {steps} (window {w}, {s} sweeps)"] = ("picard", steps, w, w // s, 0.0)
    for tol in params["tolerances"]:
        specs[f"Picard DDIM {steps} (window {window}, tolerance {tol:g})"] = ("picard", steps, window, 0, tol)
    for d in depths:
        specs.setdefault(f"DDIM {d}", ("ddim", d, 0, 0, 0.0))
    net = harness.CountingModel(model, ctx.progress)
    noises = [harness.make_noise(1, 900000 + i, ctx.device, params["image_size"]) for i in range(params["latency_samples"])]
    with torch.no_grad():
        reference = [ddim(net, z, steps).cpu() for z in noises]
        for spec in specs.values():  # warm every path once (batch 1 and the window's batch)
            _run_spec(net, noises[0], spec)
    times = {k: [] for k in specs}
    nfe = {k: [] for k in specs}
    depth = {k: [] for k in specs}
    rms = {k: [] for k in specs}
    for i, z in enumerate(noises):
        order = list(specs)
        random.Random(i).shuffle(order)
        for label in order:
            net.reset()
            with torch.no_grad():
                sync(ctx.device)
                start = time.perf_counter()
                out = _run_spec(net, z, specs[label])
                sync(ctx.device)
            times[label].append(1000 * (time.perf_counter() - start))
            nfe[label].append(net.samples)
            depth[label].append(net.calls)
            rms[label].append(float((out.cpu() - reference[i]).pow(2).mean().sqrt()))
        ctx.progress.report((i + 1) / len(noises), f"batch-1 latency: sample {i + 1}/{len(noises)}")
    base = statistics.median(times[f"DDIM {steps}"])
    rows = []
    for label in specs:
        med = statistics.median(times[label])
        rows.append({"method": label, "ms_median": round(med, 2),
                     "spread": round((max(times[label]) - min(times[label])) / med, 2) if med else 0.0,
                     "speedup_vs_sequential": round(base / med, 2) if med else None,
                     "nfe_mean": round(statistics.mean(nfe[label]), 2), "nfe_max": max(nfe[label]),
                     "depth_mean": round(statistics.mean(depth[label]), 2), "depth_max": max(depth[label]),
                     "rms_vs_sequential_max": max(rms[label]), "samples": len(noises)})
    return rows


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------


def _layout(params: dict, ctx: RunContext) -> tuple[int, str, int]:
    """(ranks, backend, threads per rank) for this device; one rank per GPU when ranks = 0 on CUDA."""
    backend = params["backend"]
    if backend == "auto":
        backend = "nccl" if ctx.device.type == "cuda" else "gloo"
    if backend == "nccl" and ctx.device.type != "cuda":
        raise ParamError(f"parameter 'backend': nccl needs CUDA GPUs, and this run is on {ctx.device.type}; "
                         "use backend=gloo or auto")
    if dist.is_available() and dist.is_initialized():  # torchrun decided
        world = dist.get_world_size()
        backend = dist.get_backend()
    elif params["ranks"]:
        world = params["ranks"]
    elif ctx.device.type == "cuda":
        world = torch.cuda.device_count()
    else:
        world = max(2, min(ctx.threads, 8))
    if backend == "nccl" and world > torch.cuda.device_count():
        raise ParamError(f"parameter 'ranks': {world} NCCL ranks need {world} GPUs, and {torch.cuda.device_count()} "
                         "are present; use ranks=0 (one per GPU) or backend=gloo")
    return world, backend, max(1, ctx.threads // world) if ctx.device.type == "cpu" else ctx.threads


def _bit_identity(single: dict, sharded: dict) -> tuple[bool, int, float]:
    keys = [k for k in single if k in sharded]
    diffs = [float((single[k] - sharded[k]).abs().max()) for k in keys]
    return bool(keys) and all(torch.equal(single[k], sharded[k]) for k in keys), len(keys), max(diffs, default=float("nan"))


def run(params: dict, ctx: RunContext):
    # 1. model, and the rank group: started once for the run, its start-up reported on its own
    model, info = teacher_for(ctx, params)
    steps, batch = params["steps"], min(params["batch"], params["n_samples"])
    world, backend, per_rank = _layout(params, ctx)
    ctx.progress.stage(0.0, 0.05).report(0.0, f"starting {world} ranks ({backend})")
    group = RankGroup.start(world, backend, ctx.device, per_rank, model,
                            Scale(params["width"], params["image_size"]), batch, ctx.dtype)
    failed = True
    try:
        ctx.progress.report(1.0, f"{world} ranks ready in {group.startup_s:.1f}s")
        # 2. methods: one-process DDIM (full cost), the same sharded over the ranks, Picard, DDIM at Picard's depth
        single, same_calls, sharded, picard_out = {}, {}, {}, {}
        call_batch = math.ceil(batch / group.world)
        full = ddim_method(f"DDIM {steps}, 1 process x {ctx.threads} thread{'s' if ctx.threads > 1 else ''}", steps,
                           "full-cost", keep=single, calls_like=group.world, ranks=1, threads_per_rank=ctx.threads,
                           call_batch=call_batch)
        methods = [full, data_parallel_method({"group": group}, steps, sharded, batch)]
        if group.threads != ctx.threads and ctx.device.type == "cpu":  # one rank's arithmetic, in this process
            methods.append(ddim_method(f"DDIM {steps}, 1 process x {group.threads} thread{'s' if group.threads > 1 else ''}",
                                       steps, "reference", keep=same_calls, calls_like=group.world, threads=group.threads,
                                       ranks=1, threads_per_rank=group.threads, call_batch=call_batch))
        identity = {"strict": same_calls if len(methods) == 3 else single, "full": single, "sharded": sharded}
        picards = [(w, s) for w in params["windows"] for s in params["sweeps"]]
        depths = []
        for w, s in picards:
            methods.append(picard_method(steps, w, s, single, picard_out))
            methods[-1].extra["call_batch"] = batch * w
            depth = methods[-1].extra["depth"]
            if depth != steps and depth not in depths:
                depths.append(depth)
        methods += [ddim_method(f"DDIM {d} (Picard's depth)", d, "equal-cost", call_batch=batch)
                    for d in sorted(depths, reverse=True)]
        # 3. measure, all in one run, repeats interleaved
        measured = harness.measure_all(methods, model, ctx, params)
        # 4. batch-1 latency, the regime ParaDiGMS targets
        ctx.progress.stage(0.99, 1.0)
        latency = latency_table(model, ctx, params, picards, depths)
        failed = False
    finally:
        group.close(force=failed)
    # 5. verdicts: the sharded run and every Picard row against the full cost; Picard against DDIM at its depth
    comparisons = measured.compare(methods[1].label, full.label, "same samples: a throughput comparison")
    for m in [m for m in methods if "window" in m.extra]:
        comparisons += measured.compare(m.label, full.label, f"{m.nfe:.0f} NFE, depth {m.extra['depth']} vs {steps}")
        if m.extra["depth"] != steps:
            comparisons += measured.compare(m.label, f"DDIM {m.extra['depth']} (Picard's depth)",
                                            f"equal depth {m.extra['depth']}; {m.nfe:.0f} vs {m.extra['depth']} NFE")
    notes = _notes(measured, methods, group, ctx, identity, latency, params)
    result = harness.result(measured, comparisons, params, model=info, notes=notes, tables={"batch-1 latency": latency},
                            equal_cost="sequential DDIM with as many steps as the Picard run's sequential depth (equal "
                                       "latency on an ideal parallel machine); for the sharded run, the one-process "
                                       "DDIM itself (same samples, same total threads)")
    identical, batches, _ = _bit_identity(identity["strict"], sharded)
    result.checks["data_parallel_bit_identical"] = identical
    result.checks["data_parallel_batches_compared"] = batches
    return result


def _notes(measured, methods, group: RankGroup, ctx: RunContext, identity: dict, latency: list[dict],
           params: dict) -> list[str]:
    full, dp = measured.row(methods[0].label), measured.row(methods[1].label)
    identical, batches, diff = _bit_identity(identity["strict"], identity["sharded"])
    same_as_full, _, diff_full = _bit_identity(identity["full"], identity["sharded"])
    dp.extra.update(bit_identical=identical, max_abs_diff=diff, bit_identical_to_full_cost=same_as_full)
    strict = methods[2].label if methods[2].role == "reference" else methods[0].label
    notes = [
        f"rank group: {group.world} ranks ({group.backend}, {'torchrun' if not group.own else 'spawned by the demo'}), "
        f"ready in {group.startup_s:.1f}s (process start, rendezvous, model broadcast, warm-up), paid once per run and "
        "not in any row's time",
        (f"data-parallel samples are bit-identical to the one-process run with the ranks' per-call batch and threads "
         f"({strict}) for every seed ({batches} batches over {params['seeds']} seeds)" if identical else
         f"data-parallel samples are NOT bit-identical to {strict} ({batches} batches compared, max |diff| "
         f"{diff:.3g}); likely reason: kernels whose result depends on more than batch size and thread count"),
    ]
    if strict != methods[0].label:
        notes.append(f"against the {ctx.threads}-thread one-process run they are "
                     + ("bit-identical too" if same_as_full else
                        f"not bit-identical (max |diff| {diff_full:.3g}): oneDNN's kernels round differently with "
                        "another thread count; the same arithmetic, split differently"))
    notes.append(f"throughput, {group.world} ranks x {group.threads} thread(s) vs 1 process x {ctx.threads} thread(s): "
                 f"{full.ms_per_sample / dp.ms_per_sample:.2f}x ({dp.ms_per_sample:.2f} vs {full.ms_per_sample:.2f} ms "
                 "per sample, medians of the repeats, noise broadcast and gather included)")
    if ctx.compile:
        notes.append("NB: --compile compiles this process's model only; the other ranks run eager, so the sharded "
                     "row mixes both and need not be bit-identical")
    if ctx.device.type == "cpu":
        if group.world * group.threads != ctx.threads:
            notes.append(f"NB: the ranks use {group.world * group.threads} threads in all and the one process "
                         f"{ctx.threads}: not an equal-thread comparison (set DIFFATLAS_THREADS to a multiple of ranks)")
        notes.append(f"what {os.cpu_count()} CPU cores cannot show: a data-parallel speed-up. The ranks share the cores "
                     "one process already uses through intra-op threads, so parity is the best outcome and process "
                     "overhead the likely loss; with one GPU per rank (full configuration on a GPU machine) the ideal "
                     "is ranks x. What they can show: exact sharding and the cost of the process group.")
    for m in methods[2:]:
        if "window" not in m.extra:
            continue
        row = measured.row(m.label)
        ratio = row.ms_per_sample / full.ms_per_sample
        notes.append(f"{m.label}: {m.nfe:.0f} NFE per sample ({m.nfe / params['steps']:.1f}x the sequential "
                     f"{params['steps']}) in {m.extra['depth']} batched calls instead of {params['steps']} "
                     f"({params['steps'] / m.extra['depth']:.1f}x fewer sequential calls); RMS deviation from the "
                     f"sequential samples of the same noise {row.extra.get('rms_vs_sequential') or float('nan'):.3g}; "
                     f"at batch {min(params['batch'], params['n_samples'])} its per-sample time is {ratio:.2f}x the "
                     "sequential run's" + (" (a full batch keeps the CPU busy, so the extra NFE cost time)"
                                          if ratio > 1 else ""))
    seq = latency[0]
    by = {r["method"]: r for r in latency}
    for r in latency[1:]:
        if not r["method"].startswith("Picard"):
            continue
        same_depth = by.get(f"DDIM {round(r['depth_mean'])}")
        notes.append(f"batch 1 ({seq['samples']} samples, medians): {r['method']} {r['ms_median']:.1f} ms vs sequential "
                     f"{seq['method']} {seq['ms_median']:.1f} ms ({r['speedup_vs_sequential']:.2f}x; {r['nfe_mean']:g} NFE "
                     f"in {r['depth_mean']:g} calls, RMS deviation {r['rms_vs_sequential_max']:.3g})"
                     + (f"; DDIM {round(r['depth_mean'])} at the same depth: {same_depth['ms_median']:.1f} ms, RMS "
                        f"deviation {same_depth['rms_vs_sequential_max']:.3g}" if same_depth else ""))
    return notes


def _check(params: dict) -> None:
    for w in params["windows"]:
        if w > params["steps"]:
            raise ParamError(f"parameter 'windows': a window of {w} steps is longer than the chain ({params['steps']} "
                             "steps); use at most 'steps'")
        for s in params["sweeps"]:
            if s > w or w % s:
                raise ParamError(f"parameter 'sweeps': {s} sweeps per state need a window divisible by it (window {w}); "
                                 "the window advances window/sweeps steps per sweep")


DEMO = Demo(
    id="parallel",
    title="Parallel sampling: data-parallel ranks (torch.distributed) and ParaDiGMS Picard iterations",
    summary="Shard seeds over torch.distributed ranks (bit-identical samples, throughput vs threads) and solve DDIM "
            "by Picard sweeps over a window of steps (NFE vs sequential depth vs quality).",
    nodes=("shen2025:system.parallel", "ma2024:part6.parallel"),
    papers=("parallel-sampling-diffusion-models-2023", "denoising-diffusion-implicit-models-2021"),
    params=common(n_samples=(200, 500), seeds=(3, 5), batch=(200, 500)) + (
        Param(name="steps", type=int, quick=12, full=32, lo=2, hi=1000,
              help="DDIM steps of the sequential chain every method solves"),
        Param(name="ranks", type=int, quick=2, full=0, lo=0, hi=64,
              help="data-parallel ranks (0 = one per GPU on CUDA, the cores up to 8 on a CPU; torchrun's count wins)"),
        Param(name="backend", type=str, quick="auto", full="auto", choices=("auto", "gloo", "nccl"),
              help="torch.distributed backend (auto: NCCL on CUDA, gloo on the CPU)"),
        Param(name="windows", type=int, many=True, quick=[4], full=[4, 8], lo=1, hi=1000,
              help="Picard window sizes p: steps evaluated together in one batched call"),
        Param(name="sweeps", type=int, many=True, quick=[2], full=[2], lo=1, hi=1000,
              help="Picard sweeps per state: the window advances p/sweeps steps per sweep (sweeps = p is exact)"),
        Param(name="tolerances", type=float, many=True, quick=[0.1, 0.01], full=[0.5, 0.1, 0.05, 0.01, 0.001],
              lo=1e-9, hi=10.0, help="ParaDiGMS tolerance rule, in the batch-1 latency table (relative to the noise scale)"),
        Param(name="latency_samples", type=int, quick=4, full=16, lo=1, hi=200,
              help="samples timed one at a time (batch 1) for the latency table"),
    ),
    run=run,
    check=_check,
    smoke=dict(n_samples=64, seeds=2, batch=64, steps=8, windows=[4], sweeps=[2], tolerances=[0.1], latency_samples=2),
    module=__name__,
    quick_seconds=49,  # measured 2026-12-02: diffatlas demo run parallel --quick, idle 2-core CPU, 2 threads
    full_seconds=474,  # measured: benchmarks/run_all.py, same machine (benchmarks/report-cpu.md)
)


# ---------------------------------------------------------------------------
# torchrun: every rank runs this module; rank 0 runs the demo, the others serve it
# ---------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Run the parallel demo (alone, or on every rank under torchrun).")
    parser.add_argument("--quick", action="store_true", help="the quick configuration (default)")
    parser.add_argument("--full", action="store_true", help="the full configuration")
    parser.add_argument("--param", action="append", default=[], metavar="K=V", help="override a parameter")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda")
    args = parser.parse_args(argv)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        rank = int(os.environ["RANK"])
        local = int(os.environ.get("LOCAL_RANK", rank))
        use_cuda = torch.cuda.is_available() and (args.device or "auto") != "cpu"
        device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
        if use_cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(seconds=300))
        if rank != 0:
            try:
                serve(rank, device)
            finally:
                dist.destroy_process_group()
            return
    from ..core.device import pick_device, set_threads
    from ..core.paths import runs_dir
    from ..core.progress import Progress

    params = DEMO.resolve("full" if args.full else "quick", dict(kv.split("=", 1) for kv in args.param))
    out = runs_dir() / f"parallel-torchrun-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(lambda f, m: print(f"[{100 * f:5.1f}%] {m}", flush=True))
    ctx = RunContext(pick_device(args.device), progress, out, "full" if args.full else "quick", threads=set_threads())
    try:
        result = run(params, ctx)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    result.demo, result.params, result.threads, result.out_dir = DEMO.id, params, ctx.threads, str(out)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
        return
    for r in result.rows:
        print(f"{r.method:48s} {r.role:10s} NFE {r.nfe:6.1f} depth {r.extra.get('depth', ''):>4} "
              f"{r.ms_per_sample:8.2f} ms/sample  speed-up {r.speedup:.2f}x  FD {r.fd:6.1f}")
    print(*result.findings(), *result.notes, sep="\n")


if __name__ == "__main__":
    main()
