"""The checkpoint store: committed weights first, then the user cache.

A checkpoint is keyed by a hash of everything that determines it (data,
model config, training config). It is looked up among the weights committed
to the repository (reference_impls/weights/, produced by
`python -m reference_impls.train all`), then in the user cache folder. Each
checkpoint has a JSON sidecar with the SHA-256 of its weights, written after
the weights: a partial or corrupted file fails the check and is retrained,
never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import torch

from .paths import WEIGHTS_DIR, cache_dir


def config_hash(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_paths(name: str, key: str, folder: Path) -> tuple[Path, Path]:
    return folder / f"{name}-{key}.safetensors", folder / f"{name}-{key}.json"


def _atomic_write(folder: Path, target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(model: torch.nn.Module, name: str, key: str, folder: Path, meta: dict) -> Path:
    """Write weights (fp16 to keep files about a megabyte) atomically, then the sidecar."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights, sidecar = checkpoint_paths(name, key, folder)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    _atomic_write(folder, weights, lambda tmp: save_file(state, tmp))
    meta = dict(meta, name=name, key=key, file=weights.name, sha256=_sha256(weights), dtype="float16",
                bytes=weights.stat().st_size)

    def write_json(tmp):
        with open(tmp, "w") as fh:
            json.dump(meta, fh, indent=2, sort_keys=True, default=str)

    _atomic_write(folder, sidecar, write_json)
    return weights


def verify_checkpoint(name: str, key: str, folder: Path) -> Optional[Path]:
    """The weights file if it and its sidecar are complete and the hash matches, else None."""
    weights, sidecar = checkpoint_paths(name, key, folder)
    if not (weights.is_file() and sidecar.is_file()):
        return None
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or meta.get("sha256") != _sha256(weights):
        return None
    return weights


def load_weights(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    from safetensors.torch import load_file

    state = load_file(str(path))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model


def find_checkpoint(name: str, key: str) -> tuple[Optional[Path], str]:
    """Look in the committed weights, then the user cache; report where."""
    for folder, where in ((WEIGHTS_DIR, "committed"), (cache_dir(), "cache")):
        path = verify_checkpoint(name, key, folder)
        if path is not None:
            return path, where
        weights, _ = checkpoint_paths(name, key, folder)
        if weights.exists():
            print(f"[diffatlas] checkpoint {weights} failed its integrity check; ignoring it", file=sys.stderr)
    return None, "missing"


def training_meta(cfg, command: str, extra: Optional[dict] = None, model_config: Optional[dict] = None,
                  data_hash: Optional[str] = None, image_size: int = 16) -> dict:
    """The sidecar of a trained checkpoint: command, configs, data hash, library versions."""
    import diffusers

    from .data import digits_split
    from .model import MODEL_CONFIG, SCHEDULE_CONFIG

    return dict(
        command=command,
        train_config=cfg.to_dict() if hasattr(cfg, "to_dict") else cfg,
        model_config=model_config or MODEL_CONFIG,
        schedule_config=SCHEDULE_CONFIG,
        data=f"sklearn.datasets.load_digits, bilinear 8x8->{image_size}x{image_size}, [-1,1], stratified split seed 0, "
             "600 held out",
        data_hash=data_hash or digits_split().data_hash,
        torch=torch.__version__,
        diffusers=diffusers.__version__,
        python=platform.python_version(),
        machine=platform.machine(),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    )
