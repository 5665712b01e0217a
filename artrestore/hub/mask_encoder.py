"""FiLMMaskEncoder: one CNN that reads binary and continuous damage at full resolution and modulates the UNet.

Self-contained (torch + diffusers only): this file is copied into exported checkpoints for ``trust_remote_code``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

N_TYPE_CODES = 5  # none, crack, scratch, loss, fade (artrestore.damage.DamageType)


def damage_planes(mask: torch.Tensor, fade: torch.Tensor, types: torch.Tensor | None) -> torch.Tensor:
    """Stack the encoder's input planes.

    Args:
        mask: (b, 1, H, W) binary damage in {0, 1}.
        fade: (b, 1, H, W) fading strength in [0, 1].
        types: (b, H, W) int64 damage-type codes 0..4, or None (then derived: binary -> loss, fade > 0 -> fade).

    Returns:
        (b, 6, H, W): mask, fade and the one-hot of codes 1..4.
    """
    if types is None:
        types = torch.where(mask[:, 0] > 0, 3, torch.where(fade[:, 0] > 0, 4, 0)).long()
    onehot = F.one_hot(types.long().clamp(0, N_TYPE_CODES - 1), N_TYPE_CODES)[..., 1:]  # (b, H, W, 4)
    return torch.cat([mask.float(), fade.float(), onehot.permute(0, 3, 1, 2).float()], dim=1)


class FiLMMaskEncoder(ModelMixin, ConfigMixin):
    """Per-block (gamma, beta) for every UNet resolution level, from the damage maps.

    Binary damage (cracks, scratches, loss) and continuous fading go through this same module. Its heads start at
    zero, so an untrained encoder leaves the UNet unmodulated.

    Args:
        latent_stride: image pixels per latent pixel (a power of 2).
        base_channels: width of the full-resolution stem.
        unet_channels: channel count of each UNet level (level 0 at latent resolution, halving after).
    """

    @register_to_config
    def __init__(
        self, latent_stride: int = 4, base_channels: int = 16, unet_channels: tuple[int, ...] = (64, 128, 128)
    ) -> None:
        super().__init__()
        if latent_stride < 1 or latent_stride & (latent_stride - 1):
            raise ValueError(f"latent_stride: expected a power of 2, got {latent_stride}")
        layers: list[nn.Module] = [nn.Conv2d(2 + N_TYPE_CODES - 1, base_channels, 3, padding=1), nn.SiLU()]
        c = base_channels
        for _ in range(latent_stride.bit_length() - 1):  # full resolution -> latent resolution
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1), nn.SiLU()]
            c *= 2
        self.stem = nn.Sequential(*layers)
        self.levels = nn.ModuleList()
        self.heads = nn.ModuleList()
        for i, unet_c in enumerate(unet_channels):
            stride = 1 if i == 0 else 2
            self.levels.append(nn.Sequential(nn.Conv2d(c, c, 3, stride=stride, padding=1), nn.SiLU()))
            head = nn.Conv2d(c, 2 * unet_c, 1)
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
            self.heads.append(head)

    def forward(
        self, mask: torch.Tensor, fade: torch.Tensor, types: torch.Tensor | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """FiLM parameters.

        Args:
            mask: (b, 1, H, W) binary damage at image resolution.
            fade: (b, 1, H, W) fading strength.
            types: (b, H, W) damage-type codes, or None.

        Returns:
            One (gamma, beta) pair per UNet level, each (b, C_l, H / (stride * 2^l), W / (stride * 2^l)).
        """
        h = self.stem(damage_planes(mask, fade, types) * 2 - 1)  # (b, c, H / stride, W / stride)
        out = []
        for level, head in zip(self.levels, self.heads):
            h = level(h)
            gamma, beta = head(h).chunk(2, dim=1)
            out.append((gamma, beta))
        return out
