"""Retrain the substrate's committed weights: `python -m reference_impls.train all`.

    python -m reference_impls.train teacher      # the diffusion UNet (FULL_TRAIN)
    python -m reference_impls.train classifier   # the digits classifier behind FD-digits
    python -m reference_impls.train students     # progressive-distillation students
    python -m reference_impls.train all          # all three, in that order

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reference_impls.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["teacher", "classifier", "students", "all"])
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
    print(f"done in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
