"""StyleMemoryBank: a faiss index of patch style embeddings with their latents and provenance.

Retrieval finds, for the context around a damaged region, the most similar patches of the training paintings
(optionally only, or preferably, those of the requested artist); their latents become cross-attention tokens of the
denoiser and their provenance feeds the attribution maps.

Self-contained (numpy, torch, faiss, safetensors): this file is copied into exported checkpoints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from safetensors.torch import load_file, save_file

RETRIEVAL_MODES = ("filter", "boost", "none", "random")
BANK_PATCH_LATENT = 8  # side of one stored patch latent (the patch's VAE latent, average-pooled to this size)


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


class StyleMemoryBank(ModelMixin, ConfigMixin):
    """Patch embeddings (inner-product faiss index over unit vectors), patch latents, provenance and artist vectors.

    A pipeline component: ``save_pretrained`` writes ``config.json``, ``index.faiss``, ``latents.safetensors``,
    ``artists.safetensors`` and ``provenance.json``; ``from_pretrained`` reads them back.

    Args:
        dim: embedding size.
        latent_shape: (c, p, p) of one patch latent.
        patch_size: side in pixels of the painting patch each entry was cut from.
    """

    config_name = "config.json"
    retrieval_modes = RETRIEVAL_MODES  # the ``mode`` values :meth:`search` accepts

    @register_to_config
    def __init__(self, dim: int = 128, latent_shape: tuple[int, int, int] = (4, 8, 8), patch_size: int = 64) -> None:
        super().__init__()
        self.dim = dim
        self.latent_shape = tuple(latent_shape)
        self.index = faiss.IndexFlatIP(dim)
        self.register_buffer("latents", torch.zeros(0, *self.latent_shape), persistent=False)
        self.provenance: list[Provenance] = []
        self.patch_artists: set[str] = set()  # artists with patches in the bank (kept in step with provenance)
        self.artist_vectors: dict[str, torch.Tensor] = {}
        self.excluded: set[int] = set()  # rows withdrawn from every search (see :meth:`excluding`)
        self._rows_by_artist: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.provenance)

    @property
    def artists(self) -> list[str]:
        """Sorted artists present in the bank (patches or reference vectors)."""
        return sorted(self.patch_artists | set(self.artist_vectors))

    def set_artist_vector(self, artist: str, vector: torch.Tensor) -> None:
        """Store an artist's style vector (the normalised mean over reference works); replaces any previous one.

        Args:
            artist: name.
            vector: (dim,) style vector.
        """
        if not artist or not isinstance(artist, str):
            raise ValueError(f"artist: expected a non-empty name, got {artist!r}")
        if vector.shape != (self.dim,):
            raise ValueError(f"vector: expected shape ({self.dim},), got {tuple(vector.shape)}")
        self.artist_vectors[artist] = torch.nn.functional.normalize(vector.detach().float().cpu(), dim=0)

    def rename_artists(self, aliases: dict[str, str]) -> None:
        """Rename artists (``{old: new}``), merging an artist into another of the new name: its patches keep their
        provenance under the new name and the two style vectors are averaged (renormalised)."""
        merged: dict[str, list[torch.Tensor]] = {}
        for name, vector in self.artist_vectors.items():
            merged.setdefault(aliases.get(name, name), []).append(vector)
        self.artist_vectors = {
            n: torch.nn.functional.normalize(torch.stack(v).mean(0), dim=0) for n, v in merged.items()
        }
        self.provenance = [
            Provenance(aliases.get(p.artist, p.artist), p.painting, p.box) if p.artist in aliases else p
            for p in self.provenance
        ]
        self.patch_artists = {p.artist for p in self.provenance}
        self._rows_by_artist = None

    @contextmanager
    def excluding(self, rows: set[int] | list[int]) -> Iterator[None]:
        """Withdraw bank rows from every search inside the ``with`` block (deletion tests, provenance opt-outs).

        Args:
            rows: bank rows to withdraw.
        """
        before = set(self.excluded)
        self.excluded |= {int(r) for r in rows}
        try:
            yield
        finally:
            self.excluded = before

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
        vecs = torch.nn.functional.normalize(embeddings.detach().float().cpu(), dim=1).numpy().astype(np.float32)
        self.index.add(vecs)
        self.latents = torch.cat([self.latents, latents.detach().float().to(self.latents.device)], dim=0)
        self.provenance.extend(provenance)
        self.patch_artists.update(p.artist for p in provenance)
        self._rows_by_artist = None

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
            mode: ``"filter"`` (only that artist), ``"boost"`` (add ``boost`` to that artist's scores), ``"none"``
                (no artist preference) or ``"random"`` (``k`` distinct rows drawn at random, reproducibly for the
                same queries, whatever the artist: the ablation of similarity search; scores are 0).
            boost: score bonus in boost mode.
            exclude: bank rows never to return (e.g. for deletion tests).

        Returns:
            :class:`Retrieved`; slots without a result are marked invalid.
        """
        if mode not in RETRIEVAL_MODES:
            raise ValueError(f"mode: expected one of {RETRIEVAL_MODES}, got {mode!r}")
        if artist is not None and mode != "none" and artist not in self.patch_artists:
            raise ValueError(f"artist: {artist!r} is not in the memory bank; known: {', '.join(self.artists)}")
        exclude = set(exclude or ()) | self.excluded
        b = queries.shape[0]
        indices = np.full((b, k), -1, np.int64)
        scores = np.full((b, k), -np.inf, np.float32)
        if mode == "random" and len(self) and k > 0:
            rng = np.random.default_rng(int(queries.abs().sum().item() * 1e3) % 2**32)
            indices = rng.choice(len(self), size=(b, min(k, len(self))), replace=False).astype(np.int64)
            indices = np.pad(indices, ((0, 0), (0, k - indices.shape[1])), constant_values=-1)
            scores = np.where(indices >= 0, 0.0, -np.inf).astype(np.float32)
        elif len(self) and k > 0:
            q = torch.nn.functional.normalize(queries.float(), dim=1).numpy().astype(np.float32)
            own = self._artist_rows(artist) if artist is not None and mode != "none" else None
            found = []  # (scores (b, k), rows (b, k)) of exact searches over the allowed rows
            if own is None or mode == "boost":
                found.append(self._search(q, k, None, exclude))
            if own is not None:
                s, idx = self._search(q, k, own, exclude)
                found.append((s + boost if mode == "boost" else s, idx))
            s = np.concatenate([f[0] for f in found], 1)  # (b, m)
            idx = np.concatenate([f[1] for f in found], 1)
            for row in range(b):
                best: dict[int, float] = {}
                for sc, i in zip(s[row], idx[row]):
                    if i >= 0:
                        best[int(i)] = max(best.get(int(i), -np.inf), float(sc))  # boost: an artist row twice
                ranked = sorted(best.items(), key=lambda t: -t[1])[:k]
                for j, (i, sc) in enumerate(ranked):
                    indices[row, j], scores[row, j] = i, sc
        valid = torch.from_numpy(indices >= 0)
        latents = torch.zeros(b, k, *self.latent_shape, device=self.latents.device)
        if valid.any():
            latents[valid.to(latents.device)] = self.latents[
                torch.from_numpy(indices[indices >= 0]).to(latents.device)
            ]
        return Retrieved(indices, scores, latents, valid)

    def _artist_rows(self, artist: str) -> np.ndarray:
        """Bank rows of ``artist``'s patches (cached; :meth:`add` resets the cache)."""
        if self._rows_by_artist is None:
            by: dict[str, list[int]] = {}
            for i, p in enumerate(self.provenance):
                by.setdefault(p.artist, []).append(i)
            self._rows_by_artist = {a: np.array(r, np.int64) for a, r in by.items()}
        return self._rows_by_artist.get(artist, np.zeros(0, np.int64))

    def _search(
        self, q: np.ndarray, k: int, allowed: np.ndarray | None, exclude: set[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the allowed rows (all when None) minus ``exclude``: (b, k) scores and rows (-1 = none)."""
        selector = None
        if allowed is not None:
            keep = allowed[~np.isin(allowed, list(exclude))] if exclude else allowed
            if len(keep) == 0:
                return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
            selector = faiss.IDSelectorBatch(keep)
        elif exclude:
            selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.array(sorted(exclude), np.int64)))
        if selector is None:
            return self.index.search(q, k)
        return self.index.search(q, k, params=faiss.SearchParameters(sel=selector))

    def save_pretrained(self, save_directory: str | Path, **kwargs: object) -> None:
        """Write the bank to a folder (``config.json``, faiss index, latents, artist vectors, provenance)."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        self.save_config(str(folder))
        faiss.write_index(self.index, str(folder / "index.faiss"))
        save_file({"latents": self.latents.detach().cpu().contiguous()}, str(folder / "latents.safetensors"))
        names = sorted(self.artist_vectors)
        vectors = torch.stack([self.artist_vectors[n] for n in names]) if names else torch.zeros(0, self.dim)
        save_file({"vectors": vectors.contiguous()}, str(folder / "artists.safetensors"))
        (folder / "provenance.json").write_text(
            json.dumps({"artists": names, "patches": [asdict(p) for p in self.provenance]})
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: object) -> StyleMemoryBank:
        """Read a bank written by :meth:`save_pretrained` (loader keyword arguments such as dtype are ignored)."""
        folder = Path(pretrained_model_name_or_path)
        if kwargs.get("subfolder"):
            folder = folder / str(kwargs["subfolder"])
        if not (folder / "config.json").exists() or not (folder / "index.faiss").exists():
            raise ValueError(f"memory_bank: no config.json and index.faiss in {folder}")
        bank = cls.from_config(cls.load_config(str(folder)))
        bank.index = faiss.read_index(str(folder / "index.faiss"))
        bank.latents = load_file(str(folder / "latents.safetensors"))["latents"]
        meta = json.loads((folder / "provenance.json").read_text())
        bank.provenance = [Provenance(p["artist"], p["painting"], tuple(p["box"])) for p in meta["patches"]]
        bank.patch_artists = {p.artist for p in bank.provenance}
        vectors = load_file(str(folder / "artists.safetensors"))["vectors"]
        bank.artist_vectors = {n: vectors[i] for i, n in enumerate(meta["artists"])}
        if bank.index.ntotal != len(bank.provenance) or len(bank.latents) != len(bank.provenance):
            raise ValueError(f"memory_bank: {folder} is inconsistent (index, latents and provenance sizes differ)")
        return bank
