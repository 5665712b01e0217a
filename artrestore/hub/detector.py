"""DamageDetector: a small U-Net that finds cracks, scratches, paint loss and fading in a damaged painting."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

# Output channels: logits of the 4 binary classes (none, crack, scratch, loss), then the fade logit.
CLASSES = ("none", "crack", "scratch", "loss")
FADE_BRANCH_STRIDE = 4  # the fading branch works at 1/4 resolution (fading is smooth; it needs context, not detail)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU()
    )


def _unet_levels(channels: tuple[int, ...]) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The down (strided) and up (skip-fusing) stages of a light U-Net with these widths."""
    down = nn.ModuleList(
        nn.Sequential(_conv(c_in, c_out, stride=2), _conv(c_out, c_out))
        for c_in, c_out in zip(channels[:-1], channels[1:])
    )
    up = nn.ModuleList(_conv(c + c_skip, c_skip) for c_skip, c in zip(channels[:-1], channels[1:]))
    return down, up


def _unet_forward(h: torch.Tensor, down: nn.ModuleList, up: nn.ModuleList) -> torch.Tensor:
    """(b, c0, h, w) stem features -> (b, c0, h, w) after the down path and the skip-fused up path."""
    skips = [h]
    for stage in down:
        h = stage(h)  # (b, c_{i+1}, h / 2^(i+1), w / 2^(i+1))
        skips.append(h)
    for stage, skip in zip(reversed(up), reversed(skips[:-1])):
        h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        h = stage(torch.cat([h, skip], dim=1))
    return h


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
        fade_channels: widths of a separate fading branch (a light U-Net at 1/4 resolution) that replaces the fade
            output of the main head; empty: the main head's fade channel is used. The branch can be trained with
            the rest frozen (:meth:`freeze_all_but_fading`), so adding it leaves the damage classes bit-identical.
        type_vote: window side in px of the majority type vote on compact damage (0: off; see
            ``decide``).
    """

    @register_to_config
    def __init__(
        self,
        channels: tuple[int, ...] = (8, 16, 32, 64, 96),
        damage_threshold: float = 0.5,
        fade_threshold: float = 0.08,
        type_weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
        fade_channels: tuple[int, ...] = (),
        type_vote: int = 0,
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
        if not isinstance(type_vote, int) or type_vote < 0:
            raise ValueError(f"type_vote: expected a window side >= 0 in px (0 = off), got {type_vote!r}")
        self.stem = _conv(3, channels[0])
        self.down, self.up = _unet_levels(channels)
        self.head = nn.Conv2d(channels[0], len(CLASSES) + 1, 1)
        fade_channels = tuple(fade_channels)
        if len(fade_channels) == 1:
            raise ValueError(f"fade_channels: expected () or at least 2 levels, got {fade_channels}")
        if fade_channels:
            self.fade_stem = _conv(3, fade_channels[0])
            self.fade_down, self.fade_up = _unet_levels(fade_channels)
            self.fade_head = nn.Conv2d(fade_channels[0], 1, 1)
        self._frozen_trunk = False

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (tiling pads to it)."""
        trunk = 2 ** (len(self.config.channels) - 1)
        if not self.config.fade_channels:
            return trunk
        return max(trunk, FADE_BRANCH_STRIDE * 2 ** (len(self.config.fade_channels) - 1))

    def freeze_all_but_fading(self) -> None:
        """Train only the fading branch: every other parameter stops learning and its BatchNorm statistics stay
        fixed (``train()`` keeps those layers in eval mode), so the damage classes do not change at all."""
        if not self.config.fade_channels:
            raise ValueError("fade_channels: this detector has no fading branch to train")
        self._frozen_trunk = True
        for name, p in self.named_parameters():
            p.requires_grad_(name.startswith("fade_"))
        self.train(self.training)

    def train(self, mode: bool = True) -> DamageDetector:
        super().train(mode)
        if self._frozen_trunk:
            for module in (self.stem, self.down, self.up, self.head):
                module.eval()
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits.

        Args:
            image: (b, 3, h, w) in [0, 1]; h and w multiples of :attr:`multiple`.

        Returns:
            (b, 5, h, w): class logits (none, crack, scratch, loss) and the fade logit.
        """
        if image.shape[-1] % self.multiple or image.shape[-2] % self.multiple:
            raise ValueError(f"image: height and width must be multiples of {self.multiple}, got {image.shape[-2:]}")
        x = image * 2 - 1
        out = self.head(_unet_forward(self.stem(x), self.down, self.up))  # (b, 5, h, w)
        if not self.config.fade_channels:
            return out
        low = F.avg_pool2d(x, FADE_BRANCH_STRIDE)  # (b, 3, h / 4, w / 4)
        fade = self.fade_head(_unet_forward(self.fade_stem(low), self.fade_down, self.fade_up))  # (b, 1, h / 4, w / 4)
        fade = F.interpolate(fade, size=image.shape[-2:], mode="bilinear", align_corners=False)  # (b, 1, h, w)
        return torch.cat([out[:, :4], fade], dim=1)
