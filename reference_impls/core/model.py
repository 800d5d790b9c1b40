"""The tiny diffusers model and its noise schedule, at a chosen scale.

A `diffusers.UNet2DModel` with three resolutions (16, 8, 4 pixels at the
default size; 16/32/48 channels; self-attention at the lowest resolution):
about 450k parameters. It predicts v (Salimans & Ho's velocity,
`prediction_type="v_prediction"`) under the DDPM linear beta schedule with
1,000 training steps: v rather than epsilon because progressive distillation
needs a parameterisation that stays well-conditioned at one or two steps, and
every diffusers scheduler used here accepts v.

`Scale` makes a GPU run a bigger experiment rather than the same one faster:
`width` multiplies every channel count, `image_size` 32 upsamples the digits
to 32x32 (one more doubling of every feature map). The default scale is the
one of the committed weights; any other trains on first use and is cached.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import IMAGE_SIZE, IMAGE_SIZES


@dataclass(frozen=True)
class Scale:
    width: int = 1            # channel multiplier: 1 -> (16, 32, 48)
    image_size: int = IMAGE_SIZE

    def __post_init__(self):
        if self.width < 1:
            raise ValueError(f"width must be at least 1, not {self.width}")
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES}, not {self.image_size}")

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_SCALE


DEFAULT_SCALE = Scale()

MODEL_CONFIG = dict(
    sample_size=IMAGE_SIZE,
    in_channels=1,
    out_channels=1,
    block_out_channels=(16, 32, 48),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    norm_num_groups=8,
    attention_head_dim=None,
)

# The training noise schedule. Every sampler is built from exactly these values
# (see `schedulers.make_scheduler`) and a test checks alphas_cumprod.
SCHEDULE_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.0001,
    beta_end=0.02,
    beta_schedule="linear",
    prediction_type="v_prediction",
)


def model_config(scale: Scale = DEFAULT_SCALE) -> dict:
    """The UNet config at `scale` (exactly MODEL_CONFIG at the default scale, so the committed keys hold)."""
    if scale.is_default:
        return dict(MODEL_CONFIG)
    return dict(MODEL_CONFIG, sample_size=scale.image_size,
                block_out_channels=tuple(c * scale.width for c in MODEL_CONFIG["block_out_channels"]))


def make_unet(scale: Scale = DEFAULT_SCALE):
    from diffusers import UNet2DModel

    return UNet2DModel(**model_config(scale))


def training_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE_CONFIG)


def alphas_cumprod() -> torch.Tensor:
    return training_scheduler().alphas_cumprod.clone()


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _stored_bytes(t: torch.Tensor) -> int:
    """Bytes a tensor holds; a wrapper subclass (optimum-quanto's int8/packed-int4 weights) by its inner tensors."""
    if hasattr(t, "__tensor_flatten__"):
        names, _ = t.__tensor_flatten__()
        return sum(_stored_bytes(getattr(t, name)) for name in names)
    return t.numel() * t.element_size()


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of every parameter and buffer as held in memory (what quantization shrinks)."""
    tensors = list(model.parameters()) + list(model.buffers())
    return int(sum(_stored_bytes(t) for t in tensors))
