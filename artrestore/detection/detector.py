"""DamageDetector: a small U-Net that finds cracks, scratches, paint loss and fading in a damaged painting."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

# Output channels: logits of the 4 binary classes (none, crack, scratch, loss), then the fade logit.
CLASSES = ("none", "crack", "scratch", "loss")


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU()
    )


class DamageDetector(ModelMixin, ConfigMixin):
    """Per-pixel damage classes and fading strength from the damaged painting alone.

    A light U-Net built for CPU speed: a thin full-resolution stem (hair-thin cracks need full resolution), strided
    convolutions down to 1/8 for context, and skip fusions back up. BatchNorm folds into the convolutions at
    inference.

    The decision thresholds travel with the weights: ``artrestore calibrate-detector`` sets them on held-out
    training data, and detection uses them unless told otherwise.

    Args:
        channels: widths at full, 1/2, 1/4, ... resolution (any number of levels >= 2).
        damage_threshold: probability of any damage needed to mark a pixel.
        fade_threshold: weakest fading strength that is reported (weaker becomes 0; 1 reports no fading).
        type_weights: weights of the crack, scratch and loss probabilities when a damaged pixel's type is chosen.
    """

    @register_to_config
    def __init__(
        self,
        channels: tuple[int, ...] = (8, 16, 32, 64, 96),
        damage_threshold: float = 0.5,
        fade_threshold: float = 0.08,
        type_weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        channels = tuple(channels)
        if len(channels) < 2:
            raise ValueError(f"channels: expected at least 2 levels, got {channels}")
        if not 0 < damage_threshold < 1 or not 0 <= fade_threshold <= 1:
            raise ValueError(
                f"damage_threshold, fade_threshold: expected (0, 1) and [0, 1], got {damage_threshold}, "
                f"{fade_threshold}"
            )
        if len(type_weights) != 3 or min(type_weights) <= 0:
            raise ValueError(f"type_weights: expected 3 positive weights (crack, scratch, loss), got {type_weights}")
        self.stem = _conv(3, channels[0])
        self.down = nn.ModuleList(
            nn.Sequential(_conv(c_in, c_out, stride=2), _conv(c_out, c_out))
            for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        self.up = nn.ModuleList(_conv(c + c_skip, c_skip) for c_skip, c in zip(channels[:-1], channels[1:]))
        self.head = nn.Conv2d(channels[0], len(CLASSES) + 1, 1)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (tiling pads to it)."""
        return 2 ** (len(self.config.channels) - 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits.

        Args:
            image: (b, 3, h, w) in [0, 1]; h and w multiples of :attr:`multiple`.

        Returns:
            (b, 5, h, w): class logits (none, crack, scratch, loss) and the fade logit.
        """
        if image.shape[-1] % self.multiple or image.shape[-2] % self.multiple:
            raise ValueError(f"image: height and width must be multiples of {self.multiple}, got {image.shape[-2:]}")
        h = self.stem(image * 2 - 1)  # (b, c0, h, w)
        skips = [h]
        for down in self.down:
            h = down(h)  # (b, c_{i+1}, h / 2^(i+1), w / 2^(i+1))
            skips.append(h)
        for up, skip in zip(reversed(self.up), reversed(skips[:-1])):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = up(torch.cat([h, skip], dim=1))
        return self.head(h)  # (b, 5, h, w)
