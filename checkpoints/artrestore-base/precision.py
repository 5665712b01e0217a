"""Arithmetic precision of the pipeline's networks on the device at hand.

A network run under ``"auto"`` precision uses bfloat16 autocast where the device has bfloat16 arithmetic in
hardware (CUDA, or a CPU with AVX512-BF16 or AMX), which roughly halves the exemplar refiner's time on such a CPU,
and float32 elsewhere, where emulated bfloat16 would be slower than float32.

Self-contained (torch only): this file ships with exported checkpoints.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` has bfloat16 arithmetic in hardware: CUDA, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: stay in float32
        return False


def check_precision(precision: str, argument: str) -> None:
    """Raise a ValueError naming ``argument`` unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"{argument}: expected one of {PRECISIONS}, got {precision!r}")


def precision_autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a network runs in at ``precision``: bfloat16 autocast, or nothing (float32).

    Args:
        precision: ``"float32"``, ``"bfloat16"``, or ``"auto"`` (bfloat16 where :func:`native_bfloat16` holds,
            float32 elsewhere).
        device: the network's device.
    """
    check_precision(precision, "precision")
    if precision == "float32" or (precision == "auto" and not native_bfloat16(device)):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
