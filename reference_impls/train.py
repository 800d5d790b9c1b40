"""Retrain the substrate's committed weights: `python -m reference_impls.train all`.

    python -m reference_impls.train teacher      # the diffusion UNet (FULL_TRAIN)
    python -m reference_impls.train classifier   # the digits classifier behind FD-digits
    python -m reference_impls.train students     # progressive-distillation students
    python -m reference_impls.train narrow       # quantization demo's equal-bytes fp32 baseline
    python -m reference_impls.train dit          # the tiny DiT (core/dit.py) and a U-Net with its training config
    python -m reference_impls.train pruned       # pruning demo: pruned + fine-tuned and same-MACs scratch UNets
    python -m reference_impls.train guidance     # guidance demo: class-conditional UNet (from the teacher) + noise-aware classifier
    python -m reference_impls.train latent       # latent demo: autoencoders (f=2, f=4) and latent UNets
    python -m reference_impls.train all          # every committed checkpoint (classifier, teacher, students, dit, narrow, pruned, guidance, latent)

Weights go to reference_impls/weights/ (or --out DIR) with a JSON sidecar that
records this command, the configs, the data hash and the library versions.
An existing, intact checkpoint for the same config is kept, not retrained,
unless --force is given.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .core import device, paths, training


def train_teacher(out: Path, force: bool) -> None:
    from .core.checkpoints import save_checkpoint, training_meta, verify_checkpoint

    key = training.teacher_key()
    if not force and verify_checkpoint("unet", key, out):
        print(f"teacher unet-{key} present in {out}; skipping (use --force)")
        return
    dev = device.pick_device()
    print(f"training teacher unet-{key} on {dev}: {training.FULL_TRAIN}", flush=True)
    model, info = training.train_diffusion(training.FULL_TRAIN, dev)
    save_checkpoint(model, "unet", key, out, training_meta(training.FULL_TRAIN, "python -m reference_impls.train teacher",
                                                           info))
    print(f"saved teacher unet-{key}: {info}", flush=True)


def train_classifier(out: Path, force: bool) -> None:
    from .core import metrics

    metrics.train_and_save_classifier(out, force)


def train_students(out: Path, force: bool) -> None:
    from .sampling import distillation

    distillation.train_all_students(out, force)


def train_narrow(out: Path, force: bool) -> None:
    from .compression import quantization

    quantization.train_narrow(out, force)


def train_dit(out: Path, force: bool) -> None:
    """The tiny DiT (core/dit.py) at DIT_TRAIN_STEPS, then the U-Net with the same training config."""
    from .core import dit
    from .core.checkpoints import verify_checkpoint

    key = dit.dit_key()
    if not force and verify_checkpoint("dit", key, out):
        print(f"tiny DiT dit-{key} present in {out}; skipping (use --force)")
    else:
        dev = device.pick_device()
        cfg = dit.dit_train_config()
        print(f"training tiny DiT dit-{key} on {dev}: {cfg}", flush=True)
        model, info = dit.train_dit(cfg, dev)
        dit.save_dit(model, cfg, info, out)
        print(f"saved tiny DiT dit-{key}: {info}", flush=True)
    train_unet_matched(out, force)


def train_unet_matched(out: Path, force: bool) -> None:
    """The U-Net trained with the DiT's training config (the backbone demo's equal-budget U-Net)."""
    from .core import dit
    from .core.checkpoints import save_checkpoint, training_meta, verify_checkpoint

    cfg = dit.dit_train_config()
    key = training.teacher_key(cfg)
    if not force and verify_checkpoint("unet", key, out):
        print(f"equal-budget U-Net unet-{key} present in {out}; skipping (use --force)")
        return
    dev = device.pick_device()
    print(f"training the equal-budget U-Net unet-{key} on {dev}: {cfg}", flush=True)
    model, info = training.train_diffusion(cfg, dev)
    save_checkpoint(model, "unet", key, out, training_meta(cfg, "python -m reference_impls.train dit", info))
    print(f"saved equal-budget U-Net unet-{key}: {info}", flush=True)


def train_pruned(out: Path, force: bool) -> None:
    from .compression import pruning

    pruning.train_all_pruned(out, force)


def train_guidance(out: Path, force: bool) -> None:
    from .design import guidance

    guidance.train_and_save(out, force, device=device.pick_device())


def train_latent(out: Path, force: bool) -> None:
    from .design import latent

    latent.train_committed(out, force)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reference_impls.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["teacher", "classifier", "students", "narrow", "dit", "pruned", "latent", "guidance", "all"])
    parser.add_argument("--out", type=Path, default=paths.WEIGHTS_DIR)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    device.set_threads()
    started = time.time()
    if args.what in ("classifier", "all"):
        train_classifier(args.out, args.force)
    if args.what in ("teacher", "all"):
        train_teacher(args.out, args.force)
    if args.what in ("students", "all"):
        train_students(args.out, args.force)
    if args.what in ("dit", "all"):
        train_dit(args.out, args.force)
    if args.what in ("narrow", "all"):
        train_narrow(args.out, args.force)
    if args.what in ("pruned", "all"):
        train_pruned(args.out, args.force)
    if args.what in ("guidance", "all"):
        train_guidance(args.out, args.force)
    if args.what in ("latent", "all"):
        train_latent(args.out, args.force)
    print(f"done in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
