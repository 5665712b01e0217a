"""LPIPS (v0.1, linear heads of the ``lpips`` package) with backbones from :mod:`.backbones`."""

from __future__ import annotations

import functools
import warnings

import torch

from .backbones import backbone_state

_NETS = {"alex": "alexnet", "vgg": "vgg16"}


@functools.lru_cache(maxsize=4)
def lpips_model(net: str = "alex", spatial: bool = False) -> torch.nn.Module:
    """The ``lpips.LPIPS`` module with our backbone weights (no download), frozen, in eval mode.

    Args:
        net: ``"alex"`` or ``"vgg"``.
        spatial: return per-pixel distance maps instead of means.
    """
    if net not in _NETS:
        raise ValueError(f"net: expected one of {tuple(_NETS)}, got {net!r}")
    import lpips as lpips_pkg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # pnet_rand=True: build the backbone without torchvision's download; the linear heads ship in the package.
        model = lpips_pkg.LPIPS(net=net, pnet_rand=True, spatial=spatial, verbose=False)
    state = backbone_state(_NETS[net])
    for name, param in model.net.named_parameters():
        # "slice2.3.weight" -> torchvision "features.3.weight"
        _, idx, kind = name.split(".")
        param.data.copy_(state[f"features.{idx}.{kind}"])
    return model.eval().requires_grad_(False)


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape:
        raise ValueError(
            f"x, y: expected two (b, 3, h, w) tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )


@torch.no_grad()
def lpips(x: torch.Tensor, y: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """Learned perceptual distance (lower = more similar).

    Args:
        x: (b, 3, h, w) in [0, 1].
        y: (b, 3, h, w) in [0, 1].
        net: ``"alex"`` or ``"vgg"``.

    Returns:
        (b,) distances.
    """
    _check_pair(x, y)
    model = lpips_model(net, False)
    return model(x.float() * 2 - 1, y.float() * 2 - 1).flatten()  # (b,)


@torch.no_grad()
def lpips_map(x: torch.Tensor, y: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """Per-pixel LPIPS map.

    Args:
        x: (b, 3, h, w) in [0, 1].
        y: (b, 3, h, w) in [0, 1].
        net: ``"alex"`` or ``"vgg"``.

    Returns:
        (b, h, w) distances, upsampled from each layer to the input size.
    """
    _check_pair(x, y)
    model = lpips_model(net, True)
    return model(x.float() * 2 - 1, y.float() * 2 - 1)[:, 0]  # (b, h, w)
