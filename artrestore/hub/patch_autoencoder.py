"""PatchAutoencoder: a latent autoencoder that starts as the best linear codec of its size.

The image is cut into p x p pixel patches (``pixel_unshuffle``). A linear map takes each patch's 3·p² values to
``latent_channels`` numbers and back: before training it is the principal-component basis of training patches
(:meth:`PatchAutoencoder.fit_linear`), whitened so that every latent channel has unit variance. Beside each linear
map, a small convolutional network at latent resolution adds a nonlinear correction; its last layer starts at zero,
so training can only improve on the linear codec. The latent stride is p.

It has the interface of diffusers' ``AutoencoderKL`` that the project uses: ``encode(x).latent_dist.mean`` (a
deterministic posterior) and ``decode(z).sample``, images in [-1, 1]. Self-contained (torch + diffusers only) for
``trust_remote_code`` export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_outputs import AutoencoderKLOutput
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class PatchCorrection(nn.Module):
    """A residual CNN at latent resolution whose output layer starts at zero.

    Args:
        c_in: input channels.
        c_out: output channels.
        hidden: width.
        blocks: residual blocks (two 3x3 convolutions each).
    """

    def __init__(self, c_in: int, c_out: int, hidden: int, blocks: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(c_in, hidden, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.SiLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU(), nn.Conv2d(hidden, hidden, 3, padding=1)
            )
            for _ in range(blocks)
        )
        self.conv_out = nn.Conv2d(hidden, c_out, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)  # (b, hidden, h, w)
        for block in self.blocks:
            h = h + block(h)
        return self.conv_out(F.silu(h))  # (b, c_out, h, w)


class PatchAutoencoder(ModelMixin, ConfigMixin):
    """Linear patch codec plus zero-initialised nonlinear corrections.

    Args:
        patch_size: the latent stride p (pixels per latent pixel along each side).
        latent_channels: latent channels (at most 3·p²).
        hidden_channels: width of the two correction networks.
        num_blocks: residual blocks per correction network (0: the linear codec alone).
        scaling_factor: the latents' scale for the denoiser (1: the whitened linear codec's unit variance).
    """

    @register_to_config
    def __init__(
        self,
        patch_size: int = 4,
        latent_channels: int = 8,
        hidden_channels: int = 64,
        num_blocks: int = 2,
        scaling_factor: float = 1.0,
    ) -> None:
        super().__init__()
        if patch_size < 1:
            raise ValueError(f"patch_size: expected at least 1, got {patch_size}")
        n = 3 * patch_size**2
        if not 1 <= latent_channels <= n:
            raise ValueError(f"latent_channels: expected 1 to {n} (3 x patch_size^2), got {latent_channels}")
        if num_blocks < 0 or hidden_channels < 1:
            raise ValueError(
                f"num_blocks, hidden_channels: expected >= 0 and >= 1, got {num_blocks} and {hidden_channels}"
            )
        self.encoder_proj = nn.Conv2d(n, latent_channels, 1)
        self.decoder_proj = nn.Conv2d(latent_channels, n, 1)
        self.encoder_correction = None
        self.decoder_correction = None
        if num_blocks:
            self.encoder_correction = PatchCorrection(n, latent_channels, hidden_channels, num_blocks)
            self.decoder_correction = PatchCorrection(latent_channels, n, hidden_channels, num_blocks)

    @property
    def latent_stride(self) -> int:
        """Image pixels per latent pixel."""
        return self.config.patch_size

    def encode(self, x: torch.Tensor, return_dict: bool = True) -> AutoencoderKLOutput | tuple:
        """Images (b, 3, H, W) in [-1, 1], H and W multiples of ``patch_size`` -> the latents as a deterministic
        posterior (``.latent_dist.mean``, (b, c, H / p, W / p))."""
        p = self.config.patch_size
        if x.shape[-1] % p or x.shape[-2] % p:
            raise ValueError(f"x: height and width must be multiples of patch_size {p}, got {tuple(x.shape[-2:])}")
        u = F.pixel_unshuffle(x, p)  # (b, 3p², H/p, W/p)
        z = self.encoder_proj(u)  # (b, c, H/p, W/p)
        if self.encoder_correction is not None:
            z = z + self.encoder_correction(u)
        dist = DiagonalGaussianDistribution(torch.cat([z, torch.zeros_like(z)], 1), deterministic=True)
        return AutoencoderKLOutput(latent_dist=dist) if return_dict else (dist,)

    def decode(self, z: torch.Tensor, return_dict: bool = True) -> DecoderOutput | tuple:
        """Latents (b, c, h, w) -> images (b, 3, h·p, w·p), about [-1, 1]."""
        u = self.decoder_proj(z)  # (b, 3p², h, w)
        if self.decoder_correction is not None:
            u = u + self.decoder_correction(z)
        x = F.pixel_shuffle(u, self.config.patch_size)  # (b, 3, h·p, w·p)
        return DecoderOutput(sample=x) if return_dict else (x,)

    def forward(self, sample: torch.Tensor, return_dict: bool = True) -> DecoderOutput | tuple:
        """Reconstruct ``sample`` (b, 3, H, W) in [-1, 1]."""
        return self.decode(self.encode(sample).latent_dist.mean, return_dict=return_dict)

    @torch.no_grad()
    def fit_linear(self, images: torch.Tensor) -> torch.Tensor:
        """Set the linear maps to the whitened principal components of the patches of ``images``.

        Args:
            images: (n, 3, H, W) in [-1, 1], H and W multiples of ``patch_size``.

        Returns:
            The share of the patches' variance that the kept components explain, per component (descending).
        """
        p, c = self.config.patch_size, self.config.latent_channels
        u = F.pixel_unshuffle(images.float(), p)  # (n, 3p², H/p, W/p)
        patches = u.permute(0, 2, 3, 1).reshape(-1, u.shape[1]).double()  # (N, 3p²)
        mean = patches.mean(0)
        centred = patches - mean
        cov = centred.T @ centred / max(1, len(patches) - 1)  # (3p², 3p²)
        eigval, eigvec = torch.linalg.eigh(cov)  # ascending
        eigval, eigvec = eigval.flip(0)[:c].clamp_min(1e-12), eigvec.flip(1)[:, :c]  # (c,), (3p², c)
        std = eigval.sqrt()
        enc = eigvec.T / std[:, None]  # (c, 3p²): whitened coordinates
        dec = eigvec * std[None, :]  # (3p², c)
        self.encoder_proj.weight.copy_(enc[:, :, None, None].to(self.encoder_proj.weight))
        self.encoder_proj.bias.copy_((-enc @ mean).to(self.encoder_proj.bias))
        self.decoder_proj.weight.copy_(dec[:, :, None, None].to(self.decoder_proj.weight))
        self.decoder_proj.bias.copy_(mean.to(self.decoder_proj.bias))
        return (eigval / cov.diagonal().sum()).float()
