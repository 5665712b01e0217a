"""StyleMemoryBank: a faiss index of patch style embeddings with their latents and provenance.

Retrieval finds, for the context around a damaged region, the most similar patches of the training paintings
(optionally only, or preferably, those of the requested artist); their latents become cross-attention tokens of the
denoiser and their provenance feeds the attribution maps.

Self-contained (numpy, torch, faiss, safetensors): this file is copied into exported checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np
import torch
from safetensors.torch import load_file, save_file

RETRIEVAL_MODES = ("filter", "boost", "none")


@dataclass(frozen=True)
class Provenance:
    """Where a memory-bank patch comes from: artist, painting file and pixel box (x0, y0, x1, y1)."""

    artist: str
    painting: str
    box: tuple[int, int, int, int]


@dataclass
class Retrieved:
    """Search results for a batch of queries.

    Attributes:
        indices: (b, k) int64 bank rows, -1 for empty slots.
        scores: (b, k) float32 cosine similarities (after any artist boost).
        latents: (b, k, c, p, p) float32 patch latents (zeros for empty slots).
        valid: (b, k) bool.
    """

    indices: np.ndarray
    scores: np.ndarray
    latents: torch.Tensor
    valid: torch.Tensor


class StyleMemoryBank:
    """Patch embeddings (inner-product faiss index over unit vectors), patch latents and provenance.

    Args:
        dim: embedding size.
        latent_shape: (c, p, p) of one patch latent.
    """

    def __init__(self, dim: int, latent_shape: tuple[int, int, int]) -> None:
        self.dim = dim
        self.latent_shape = tuple(latent_shape)
        self.index = faiss.IndexFlatIP(dim)
        self.latents = torch.zeros(0, *self.latent_shape)
        self.provenance: list[Provenance] = []

    def __len__(self) -> int:
        return len(self.provenance)

    @property
    def artists(self) -> list[str]:
        """Sorted artists present in the bank."""
        return sorted({p.artist for p in self.provenance})

    def add(self, embeddings: torch.Tensor, latents: torch.Tensor, provenance: list[Provenance]) -> None:
        """Add patches.

        Args:
            embeddings: (n, dim) style embeddings (normalised here).
            latents: (n, c, p, p) patch latents.
            provenance: n entries.
        """
        if embeddings.shape[0] != latents.shape[0] or embeddings.shape[0] != len(provenance):
            raise ValueError("embeddings, latents, provenance: must all describe the same number of patches")
        if embeddings.shape[1] != self.dim or tuple(latents.shape[1:]) != self.latent_shape:
            raise ValueError(
                f"embeddings/latents: expected (n, {self.dim}) and (n, {self.latent_shape}), got "
                f"{tuple(embeddings.shape)} and {tuple(latents.shape)}"
            )
        vecs = torch.nn.functional.normalize(embeddings.float(), dim=1).numpy().astype(np.float32)
        self.index.add(vecs)
        self.latents = torch.cat([self.latents, latents.float().cpu()], dim=0)
        self.provenance.extend(provenance)

    def search(
        self,
        queries: torch.Tensor,
        k: int,
        artist: str | None = None,
        mode: str = "filter",
        boost: float = 0.1,
        exclude: set[int] | None = None,
    ) -> Retrieved:
        """Top-k patches for each query.

        Args:
            queries: (b, dim) context embeddings.
            k: results per query.
            artist: requested artist, or None (no artist preference).
            mode: ``"filter"`` (only that artist), ``"boost"`` (add ``boost`` to that artist's scores) or ``"none"``.
            boost: score bonus in boost mode.
            exclude: bank rows never to return (e.g. for deletion tests).

        Returns:
            :class:`Retrieved`; slots without a result are marked invalid.
        """
        if mode not in RETRIEVAL_MODES:
            raise ValueError(f"mode: expected one of {RETRIEVAL_MODES}, got {mode!r}")
        if artist is not None and mode != "none" and artist not in self.artists:
            raise ValueError(f"artist: {artist!r} is not in the memory bank; known: {', '.join(self.artists)}")
        b = queries.shape[0]
        indices = np.full((b, k), -1, np.int64)
        scores = np.full((b, k), -np.inf, np.float32)
        if len(self) and k > 0:
            pool = min(len(self), max(k * 8, 64) if (artist or exclude) else k)
            q = torch.nn.functional.normalize(queries.float(), dim=1).numpy().astype(np.float32)
            s, idx = self.index.search(q, pool)  # (b, pool)
            for row in range(b):
                cand = [(float(sc), int(i)) for sc, i in zip(s[row], idx[row]) if i >= 0]
                if exclude:
                    cand = [(sc, i) for sc, i in cand if i not in exclude]
                if artist is not None and mode == "filter":
                    cand = [(sc, i) for sc, i in cand if self.provenance[i].artist == artist]
                elif artist is not None and mode == "boost":
                    cand = [(sc + boost * (self.provenance[i].artist == artist), i) for sc, i in cand]
                cand.sort(key=lambda t: -t[0])
                for j, (sc, i) in enumerate(cand[:k]):
                    indices[row, j], scores[row, j] = i, sc
        valid = torch.from_numpy(indices >= 0)
        latents = torch.zeros(b, k, *self.latent_shape)
        if valid.any():
            latents[valid] = self.latents[torch.from_numpy(indices[indices >= 0])]
        return Retrieved(indices, scores, latents, valid)

    def save(self, folder: str | Path) -> None:
        """Write ``index.faiss``, ``latents.safetensors``, ``provenance.json`` and ``bank_config.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        save_file({"latents": self.latents.contiguous()}, str(folder / "latents.safetensors"))
        (folder / "provenance.json").write_text(json.dumps([asdict(p) for p in self.provenance]))
        (folder / "bank_config.json").write_text(json.dumps({"dim": self.dim, "latent_shape": self.latent_shape}))

    @classmethod
    def load(cls, folder: str | Path) -> StyleMemoryBank:
        """Read a bank written by :meth:`save`."""
        folder = Path(folder)
        if not (folder / "bank_config.json").exists():
            raise ValueError(f"memory_bank: no bank_config.json in {folder}")
        cfg = json.loads((folder / "bank_config.json").read_text())
        bank = cls(cfg["dim"], tuple(cfg["latent_shape"]))
        bank.index = faiss.read_index(str(folder / "index.faiss"))
        bank.latents = load_file(str(folder / "latents.safetensors"))["latents"]
        bank.provenance = [
            Provenance(p["artist"], p["painting"], tuple(p["box"]))
            for p in json.loads((folder / "provenance.json").read_text())
        ]
        if bank.index.ntotal != len(bank.provenance) or len(bank.latents) != len(bank.provenance):
            raise ValueError(f"memory_bank: {folder} is inconsistent (index, latents and provenance sizes differ)")
        return bank
