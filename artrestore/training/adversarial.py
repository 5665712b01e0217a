"""An adversarial texture term for inpainting networks: a patch discriminator that learns to tell restored holes
from painted canvas, and the generator loss that asks the restoration to fool it.

The discriminator sees the composite image only, never the mask. Its targets are per patch: on a real crop every
patch is real; on a restored crop, the patches the hole covers (the mask pooled to the discriminator's grid) are
fake and the rest real. The losses are the non-saturating logistic ones, with an R1 gradient penalty on the real
crops. The generator term is the restored patches' logistic loss, averaged over the hole. It rewards texture that
looks painted wherever the hole was, whether or not it is the hidden paint: the reconstruction terms beside it keep
the content.

:class:`AdversarialTerm` owns the discriminator and its optimiser, steps them itself inside the generator's loss
function, and is checkpointed with the run (``state_dict`` / ``load_state_dict``). In a run of several processes
each process trains its own discriminator on its own batches, and the main process's is checkpointed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """A fully convolutional discriminator: (b, 3, h, w) in [0, 1] -> (b, 1, h', w') logits, one per patch.

    Args:
        channels: widths of the strided layers; each halves the resolution. A last 4x4 layer at stride 1 and a
            1-channel 4x4 output follow, so with three widths a logit sees about 70 px.
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = c
        layers += [nn.Conv2d(c_in, c_in, 4, stride=1, padding=1), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(c_in, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)  # (b, 1, h', w')


def fake_targets(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(b, 1, h, w) hole mask -> (b, 1, *size) share of each discriminator patch that the hole covers, in [0, 1]."""
    return F.adaptive_avg_pool2d(mask.float(), size).clamp(0, 1)


def discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor, fake_share: torch.Tensor) -> torch.Tensor:
    """Logistic loss of the discriminator: real patches real; on the restored crop, each patch is fake by the share
    of it the hole covers (``fake_share``, the same shape as ``logits_fake``) and real by the rest."""
    real = F.softplus(-logits_real).mean()
    fake = (fake_share * F.softplus(logits_fake) + (1 - fake_share) * F.softplus(-logits_fake)).mean()
    return real + fake


def generator_loss(logits_fake: torch.Tensor, fake_share: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss over the restored patches, weighted by how much of each the hole covers."""
    return (fake_share * F.softplus(-logits_fake)).sum() / fake_share.sum().clamp_min(1e-6)


def r1_penalty(logits_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean squared gradient norm of the real logits' sum with respect to the real images (``real`` must require
    grad)."""
    (grad,) = torch.autograd.grad(logits_real.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


@dataclass
class AdversarialSettings:
    """How the adversarial term trains (the fields of the training config it reads)."""

    weight: float
    lr: float = 1e-4
    r1: float = 1.0
    warmup: int = 50
    channels: tuple[int, ...] = (32, 64, 128)

    def __post_init__(self) -> None:
        checks = {
            "adv_weight": (self.weight, self.weight > 0, "a weight above 0"),
            "adv_lr": (self.lr, self.lr > 0, "a learning rate above 0"),
            "adv_r1": (self.r1, self.r1 >= 0, "a penalty weight of at least 0"),
            "adv_warmup": (self.warmup, self.warmup >= 0, "a step count of at least 0"),
        }
        for name, (value, ok, accepted) in checks.items():
            if not ok:
                raise ValueError(f"{name}: expected {accepted}, got {value}")


class AdversarialTerm:
    """The discriminator, its optimiser and the generator's adversarial loss.

    Call :meth:`loss` once per training step with the restored composite (with grad), the clean crop and the hole:
    it first steps the discriminator on the detached restoration, then returns the generator's loss and logs. For
    the first ``warmup`` steps only the discriminator learns (the returned loss is zero), so the generator starts
    against a discriminator that already tells texture apart.
    """

    def __init__(self, settings: AdversarialSettings, *, seed: int = 0) -> None:
        self.settings = settings
        with torch.random.fork_rng(devices=[]):  # the generator's own random stream stays as without the term
            torch.manual_seed(seed)
            self.disc = PatchDiscriminator(settings.channels)
        self.optimizer = torch.optim.Adam(self.disc.parameters(), lr=settings.lr, betas=(0.5, 0.999))
        self.steps = 0

    def state_dict(self) -> dict:
        return {"disc": self.disc.state_dict(), "optimizer": self.optimizer.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.disc.load_state_dict(state["disc"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = int(state["steps"])

    def _step_discriminator(self, restored: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> dict:
        real = clean.detach().float().requires_grad_(self.settings.r1 > 0)  # (b, 3, h, w)
        logits_real = self.disc(real)  # (b, 1, h', w')
        logits_fake = self.disc(restored.detach().float())
        share = fake_targets(mask, logits_fake.shape[-2:])
        loss = discriminator_loss(logits_real, logits_fake, share)
        penalty = r1_penalty(logits_real, real) if self.settings.r1 > 0 else torch.zeros(())
        self.optimizer.zero_grad(set_to_none=True)
        (loss + 0.5 * self.settings.r1 * penalty).backward()
        self.optimizer.step()
        with torch.no_grad():
            hole = share > 0.5
            fake_hole = logits_fake[hole].mean() if hole.any() else torch.zeros(())
        return {
            "d_loss": loss.item(),
            "d_r1": penalty.item(),
            "d_real": logits_real.mean().item(),
            "d_fake_hole": fake_hole.item(),
        }

    def loss(
        self, restored: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Step the discriminator, then return ``(weight x generator loss, logs)``.

        Args:
            restored: (b, 3, h, w) the restored composite in [0, 1], with grad.
            clean: (b, 3, h, w) the undamaged crop.
            mask: (b, 1, h, w) the hole (1 = restored).
        """
        self.disc.to(restored.device)  # the batch's device; a no-op once there
        with torch.autocast(restored.device.type, enabled=False):  # the discriminator trains in float32
            logs = self._step_discriminator(restored, clean, mask)
            self.steps += 1
            if self.steps <= self.settings.warmup:
                return restored.new_zeros(()), {**logs, "adv": float("nan")}
            self.disc.requires_grad_(False)  # the generator's backward needs no discriminator gradients
            try:
                logits = self.disc(restored.float())
            finally:
                self.disc.requires_grad_(True)
            term = generator_loss(logits, fake_targets(mask, logits.shape[-2:]))
        return self.settings.weight * term, {**logs, "adv": term.item()}
