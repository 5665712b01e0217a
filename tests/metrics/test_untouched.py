"""untouched_changed."""

from __future__ import annotations

import torch

from artrestore.metrics import untouched_changed


def test_counts_changes_outside_mask_and_fade():
    x = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    out = x.clone()
    mask = torch.zeros(1, 8, 8)
    fade = torch.zeros(1, 1, 8, 8)
    mask[0, 0, 0] = 1
    fade[..., 1, 1] = 0.3
    out[0, :, 0, 0] = 9  # allowed: in mask
    out[0, 1, 1, 1] = 9  # allowed: faded
    assert int(untouched_changed(out, x, mask, fade)[0]) == 0
    out[0, 2, 5, 5] = 1  # one channel of one untouched pixel
    out[0, :, 6, 6] = 1
    assert int(untouched_changed(out, x, mask, fade)[0]) == 2
    assert int(untouched_changed(out, x, mask)[0]) == 3
