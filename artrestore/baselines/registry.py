"""Restoration methods, looked up by name.

A method takes the damaged painting, the binary mask and the fade map and returns the restored painting:
``fn(image: (h, w, 3) uint8, mask: (h, w) bool, fade: (h, w) float32) -> (h, w, 3) uint8``. It must leave every
pixel outside ``mask`` and ``fade > 0`` unchanged; the bench counts violations (``untouched_changed``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

RestoreFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Method:
    """A registered restoration method.

    Attributes:
        name: registry key, e.g. ``"patchmatch"``.
        fn: the restoration function.
        description: one line for tables and the UI.
        restores_fading: whether the method acts on the fade map at all.
        takes_artist: whether ``fn`` also accepts ``artist=`` (the painting's artist; the bench passes it).
        conditioning: maps the painting's artist to the artist the method conditions on when that differs (a
            deliberately wrong artist), else returns None; the bench then also certifies against that artist, as
            the pipeline's own certificate does. None: the method conditions on the painting's artist or on none.
    """

    name: str
    fn: RestoreFn
    description: str
    restores_fading: bool = False
    takes_artist: bool = False
    conditioning: Callable[[str], str | None] | None = None


_REGISTRY: dict[str, Method] = {}


def register_method(
    name: str,
    description: str,
    restores_fading: bool = False,
    takes_artist: bool = False,
    conditioning: Callable[[str], str | None] | None = None,
) -> Callable[[RestoreFn], RestoreFn]:
    """Decorator adding a restoration function to the registry under ``name`` (arguments: :class:`Method`)."""

    def wrap(fn: RestoreFn) -> RestoreFn:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"name: a method called {name!r} is already registered")
        _REGISTRY[name] = Method(name, fn, description, restores_fading, takes_artist, conditioning)
        return fn

    return wrap


def available_methods() -> list[str]:
    """Names of all registered methods, in registration order."""
    _load_builtin()
    return list(_REGISTRY)


def get_method(name: str) -> Method:
    """The method registered as ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"methods: unknown method {name!r}; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _load_builtin() -> None:
    from . import classical  # noqa: F401  (registers the classical baselines)


def composite(restored: np.ndarray, image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Paste ``restored`` into ``image`` inside ``region`` only; everything else stays bit-identical.

    Args:
        restored: (h, w, 3) uint8.
        image: (h, w, 3) uint8 input.
        region: (h, w) bool.

    Returns:
        (h, w, 3) uint8.
    """
    out = image.copy()
    out[region] = restored[region]
    return out
