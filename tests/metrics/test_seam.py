"""The seam ring and the seam error."""

from __future__ import annotations

import torch

from artrestore.metrics import boundary_ring, seam_error


def test_ring_straddles_the_boundary():
    m = torch.zeros(1, 1, 40, 40)
    m[..., 10:30, 10:30] = 1
    ring = boundary_ring(m, width=2)[0]
    assert ring[10, 20] and ring[8, 20] and ring[11, 20]  # on, outside and inside the edge
    assert not ring[20, 20] and not ring[0, 0]
    assert not boundary_ring(torch.zeros(1, 40, 40))[0].any()


def test_seam_error_sees_only_the_edge():
    torch.manual_seed(0)
    ref = torch.rand(1, 3, 64, 64)
    m = torch.zeros(1, 1, 64, 64)
    m[..., 16:48, 16:48] = 1
    centre_only = ref.clone()
    centre_only[..., 28:36, 28:36] = 0  # wrong, but far from the seam
    edge = ref.clone()
    edge[..., 14:18, 16:48] = 0
    assert float(seam_error(centre_only, ref, m)["delta_e"]) == 0.0
    assert float(seam_error(edge, ref, m)["delta_e"]) > 5.0
