"""Your own model: a diffusers folder saved with `save_pretrained`, checked, loaded and wrapped for the harness.

What a folder may be
    * a model folder: `config.json` whose `_class_name` is `UNet2DModel`,
      `UNet2DConditionModel` or `DiTTransformer2DModel`, its safetensors
      weights, and the scheduler's `scheduler_config.json` beside them
      (`unet.save_pretrained(DIR); scheduler.save_pretrained(DIR)`);
    * a pipeline folder (`pipeline.save_pretrained(DIR)`): `model_index.json`,
      the network in `unet/` or `transformer/`, the scheduler in `scheduler/`.
      A VAE or text encoder in it is not used: the demos sample in the
      network's own space (latents, for a latent model).

`check_model_dir` reads only the small JSON files (no torch, no weights), so
the command line and the app can refuse a wrong folder in one line before
anything loads. It refuses symbolic links, files larger than stated limits,
pickled `.bin` weights (a pickle can run code; diffusers saves safetensors by
default) and conditioning the demos cannot supply (SDXL's added text/time
embeddings). `load_user_model` loads with `local_files_only=True` and
HF_HUB_OFFLINE set, so nothing is ever downloaded.

Unconditional use (stated in every result's notes): a UNet2DConditionModel
gets all-zero encoder states of one token (the same for every method, so
agreement is still measured on one fixed conditioning); a class-conditional
UNet or DiT gets class label `CLASS_LABEL`. `UserNet(x, t)` returns the
network's prediction (epsilon, v or x0, as the scheduler config says) with
the sample's channels; a DiT that also predicts its variance (DiT-XL's
`learn_sigma`) gives only the first half, as diffusers' DiTPipeline does.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .spec import ParamError

MODEL_CLASSES = ("UNet2DModel", "UNet2DConditionModel", "DiTTransformer2DModel")
WEIGHTS = "diffusion_pytorch_model"
MAX_CONFIG_BYTES = 1 << 20            # a diffusers config is a few kB
MAX_WEIGHT_BYTES = 16 << 30           # SDXL's UNet in fp32 is ~10 GB; anything larger is refused as odd
CLASS_LABEL = 0                       # the class a class-conditional model is sampled at
# The settings of a user's scheduler config the demos' schedulers are built from (each scheduler takes those its
# constructor knows: `schedulers.make_scheduler`); spacing and step offsets stay each solver's own.
SCHEDULER_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type",
                  "clip_sample", "clip_sample_range", "thresholding", "dynamic_thresholding_ratio", "sample_max_value",
                  "rescale_betas_zero_snr")
PREDICTIONS = ("epsilon", "v_prediction", "sample")
HOW_TO_SAVE = ("save a model with `unet.save_pretrained(DIR); scheduler.save_pretrained(DIR)` "
               "(or `pipeline.save_pretrained(DIR)`)")


@dataclass(frozen=True)
class ModelFolder:
    """A checked folder: where the network and the scheduler config are, and what they say."""

    path: Path
    model_dir: Path
    class_name: str
    config: dict
    scheduler: dict       # the SCHEDULER_KEYS of the user's scheduler config
    scheduler_class: str
    weights: tuple[Path, ...]
    variant: Optional[str]

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one sample in the network's space."""
        size = self.config.get("sample_size") or 32
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return int(self.config.get("in_channels", 4)), int(h), int(w)


def _fail(path, what: str) -> None:
    raise ParamError(f"model folder {path}: {what}; {HOW_TO_SAVE}")


def _read_json(path: Path, root: Path) -> dict:
    if path.is_symlink():
        _fail(root, f"{path.name} is a symbolic link; give a folder with real files")
    if not path.is_file():
        _fail(root, f"no {path.relative_to(root)}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        _fail(root, f"{path.relative_to(root)} is larger than {MAX_CONFIG_BYTES >> 10} kB: not a diffusers config")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(root, f"{path.relative_to(root)} is not valid JSON ({exc.__class__.__name__})")
    if not isinstance(data, dict):
        _fail(root, f"{path.relative_to(root)} is not a JSON object")
    return data


def _folder(root: Path, sub: Optional[str]) -> Path:
    here = root / sub if sub else root
    if here.is_symlink():
        _fail(root, f"{sub} is a symbolic link; give a folder with real files")
    if not here.is_dir():
        _fail(root, f"no {sub}/ folder")
    return here


def _layout(root: Path) -> tuple[Path, Path]:
    """(network folder, scheduler folder) of a model folder or a pipeline folder."""
    if not (root / "model_index.json").exists():
        return root, root
    index = _read_json(root / "model_index.json", root)
    network = next((name for name in ("unet", "transformer") if name in index), None)
    if network is None:
        _fail(root, "model_index.json names no 'unet' or 'transformer'")
    if "scheduler" not in index:
        _fail(root, "model_index.json names no 'scheduler'")
    return _folder(root, network), _folder(root, "scheduler")


def _weights(root: Path, model_dir: Path) -> tuple[tuple[Path, ...], Optional[str]]:
    """The safetensors files diffusers will read (one file or an index's shards) and the variant, if any."""
    single = sorted(model_dir.glob(f"{WEIGHTS}*.safetensors"))
    index = sorted(model_dir.glob(f"{WEIGHTS}*.safetensors.index.json"))
    if not single and not index:
        pickled = sorted(p.name for p in model_dir.glob("*.bin"))
        if pickled:
            _fail(root, f"only pickled weights ({', '.join(pickled)}); the demos load safetensors only "
                        "(a pickle can run code): save with safe_serialization=True, the default")
        _fail(root, f"no {WEIGHTS}.safetensors in {model_dir.name or '.'}")
    names = [p.name for p in single + index]
    variant = None
    if f"{WEIGHTS}.safetensors" not in names and f"{WEIGHTS}.safetensors.index.json" not in names:
        variant = names[0][len(WEIGHTS) + 1:].split(".")[0]  # diffusion_pytorch_model.<variant>.safetensors
    files = tuple(single) + tuple(index)
    total = 0
    for f in files:
        if f.is_symlink():
            _fail(root, f"{f.name} is a symbolic link; give a folder with real files")
        total += f.stat().st_size
    if total > MAX_WEIGHT_BYTES:
        _fail(root, f"weights of {total / 2**30:.1f} GB exceed the {MAX_WEIGHT_BYTES >> 30} GB the demos load")
    return files, variant


def _check_conditioning(root: Path, name: str, config: dict) -> None:
    """Refuse conditioning the wrapper cannot supply (one fixed input for every method is all it gives)."""
    if name == "UNet2DConditionModel" and config.get("addition_embed_type"):
        _fail(root, f"addition_embed_type {config['addition_embed_type']!r} needs added text/time embeddings "
                    "(SDXL-style) that the demos do not make; use a UNet without added conditioning")
    if config.get("class_embed_type") and not config.get("num_class_embeds"):
        _fail(root, f"class_embed_type {config['class_embed_type']!r} needs class embeddings the demos do not make; "
                    "only num_class_embeds (a class label) is supported")


def check_model_dir(path) -> ModelFolder:
    """Check a user's model folder from its JSON files alone; ParamError (one line) naming what is wrong."""
    root = Path(str(path)).expanduser()
    if "\x00" in str(path):
        _fail(repr(str(path)), "the path contains a NUL byte")
    if root.is_symlink():
        _fail(root, "the folder is a symbolic link; give the real folder")
    if not root.exists():
        _fail(root, "does not exist")
    if not root.is_dir():
        _fail(root, "is a file, not a folder")
    model_dir, scheduler_dir = _layout(root)
    config = _read_json(model_dir / "config.json", root)
    name = config.get("_class_name")
    if not isinstance(name, str) or not name:
        _fail(root, "config.json has no '_class_name': not a diffusers model config")
    if name not in MODEL_CLASSES:
        _fail(root, f"config.json is a {name}, not one of {', '.join(MODEL_CLASSES)}")
    _check_conditioning(root, name, config)
    sched = _read_json(scheduler_dir / "scheduler_config.json", root)
    sched_class = sched.get("_class_name")
    if not isinstance(sched_class, str) or not sched_class.endswith("Scheduler"):
        _fail(root, "scheduler_config.json has no scheduler '_class_name'")
    prediction = sched.get("prediction_type", "epsilon")
    if prediction not in PREDICTIONS:
        _fail(root, f"scheduler_config.json: prediction_type {prediction!r} is not one of {', '.join(PREDICTIONS)}")
    steps = sched.get("num_train_timesteps", 1000)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= 100000:
        _fail(root, f"scheduler_config.json: num_train_timesteps {steps!r} is not an integer in [2, 100000]")
    weights, variant = _weights(root, model_dir)
    base = {k: sched[k] for k in SCHEDULER_KEYS if sched.get(k) is not None}
    return ModelFolder(root.resolve(), model_dir.resolve(), name, config, base, sched_class, weights, variant)


# ---------------------------------------------------------------------------
# loading and the harness's view: net(x, t)
# ---------------------------------------------------------------------------


def weights_key(folder: ModelFolder) -> str:
    """A hash of the weight files' bytes: two runs on the same weights share it."""
    digest = hashlib.sha256()
    for f in folder.weights:
        digest.update(f.name.encode())
        with open(f, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _torch_module():
    import torch

    class UserNet(torch.nn.Module):
        """A user's network as `net(x, t) -> prediction`, the interface of the project's own models."""

        def __init__(self, model, folder: ModelFolder):
            super().__init__()
            self.model, self.class_name, self.config = model, folder.class_name, folder.config
            self.sample_shape = folder.sample_shape
            self.train_timesteps = int(folder.scheduler.get("num_train_timesteps", 1000))
            cross = folder.config.get("encoder_hid_dim") or folder.config.get("cross_attention_dim") or 0
            self.encoder_dim = int(cross[0] if isinstance(cross, (list, tuple)) else cross)
            self.class_conditional = bool(folder.config.get("num_class_embeds") or
                                          (folder.class_name == "DiTTransformer2DModel" and
                                           folder.config.get("num_embeds_ada_norm")))

        def forward(self, x, t):
            if not torch.is_tensor(t) or t.ndim == 0:
                t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
            kwargs = {}
            if self.class_conditional:
                kwargs["class_labels"] = torch.full((x.shape[0],), CLASS_LABEL, dtype=torch.long, device=x.device)
            if self.class_name == "UNet2DConditionModel":
                kwargs["encoder_hidden_states"] = torch.zeros(x.shape[0], 1, self.encoder_dim, device=x.device,
                                                              dtype=x.dtype)
            out = self.model(x, t, return_dict=False, **kwargs)[0]
            return out[:, : x.shape[1]]  # a DiT with learned variance predicts [eps, variance]

    return UserNet


def conditioning_note(folder: ModelFolder) -> str:
    """What input the user's model was sampled with, for the result's notes."""
    bits = []
    if folder.class_name == "UNet2DConditionModel":
        bits.append("all-zero encoder states of one token (no text encoder)")
    if folder.config.get("num_class_embeds") or (folder.class_name == "DiTTransformer2DModel"
                                                 and folder.config.get("num_embeds_ada_norm")):
        bits.append(f"class label {CLASS_LABEL}")
    how = " and ".join(bits) if bits else "no conditioning (an unconditional model)"
    c, h, w = folder.sample_shape
    return (f"your model ({folder.class_name}, {folder.path}) sampled with {how}, in its own {c}x{h}x{w} sample space "
            "(latents for a latent model; no VAE decode); schedulers built from its scheduler config "
            f"({folder.scheduler_class}: {', '.join(f'{k}={v}' for k, v in folder.scheduler.items() if k != 'trained_betas')})")


def load_user_model(path, device):
    """Load a checked folder's network (fp32, eval) on `device`, offline; returns (UserNet, folder)."""
    folder = check_model_dir(path)
    os.environ["HF_HUB_OFFLINE"] = "1"
    import diffusers
    import torch

    cls = getattr(diffusers, folder.class_name)
    try:
        model = cls.from_pretrained(folder.model_dir, local_files_only=True, use_safetensors=True,
                                    variant=folder.variant, torch_dtype=torch.float32)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        _fail(folder.path, f"diffusers could not load the {folder.class_name} ({first})")
    net = _torch_module()(model.eval(), folder).to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    return net, folder


def user_model_for(ctx):
    """The run's user model (ctx.model_path) and its 'model' entry for the result."""
    from .harness import model_info

    ctx.progress.report(0.0, "loading your model")
    net, folder = load_user_model(ctx.model_path, ctx.device)
    info = model_info(net, "user", weights_key(folder), path=str(folder.path), **{"class": folder.class_name},
                      sample_shape=list(folder.sample_shape), scheduler=dict(folder.scheduler),
                      scheduler_class=folder.scheduler_class, conditioning=conditioning_note(folder))
    return net, info


def model_for(ctx, params: dict, own):
    """The run's network: the user's (`ctx.model_path`) or the project's, `own(ctx, params)`.

    Returns (model, model entry, scheduler base config or None for the project's schedule, notes)."""
    if ctx.model_path is None:
        model, info = own(ctx, params)
        return model, info, None, []
    model, info = user_model_for(ctx)
    return model, info, info["scheduler"], [info["conditioning"], FIDELITY_NOTE]


FIDELITY_NOTE = ("quality on your model is agreement, not distribution quality: each method's PSNR (dB, data range 2, "
                 "capped at 100) and SSIM against the full-cost baseline's output from the same noise, mean and "
                 "standard error over seeds; the full-cost row is that reference itself and has none; no classifier, "
                 "so no FD or KID")


def check_steps(params: dict, folder: ModelFolder, *names: str) -> None:
    """Step counts (parameters `names`) must not exceed the user's training timesteps."""
    limit = folder.scheduler.get("num_train_timesteps", 1000)
    for name in names:
        values = params.get(name)
        for v in values if isinstance(values, list) else [values]:
            if isinstance(v, int) and v > limit:
                raise ParamError(f"parameter {name!r}: {v} steps exceed your model's {limit} training timesteps "
                                 f"(num_train_timesteps in {folder.path}'s scheduler config)")
