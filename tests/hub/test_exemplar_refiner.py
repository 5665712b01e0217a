"""ExemplarRefiner: the identity on the exemplar fill before training, and never a change outside the hole."""

from __future__ import annotations

import torch

from artrestore.hub.exemplar_refiner import ExemplarRefiner


def _inputs(seed: int = 0, size: int = 32):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, size, size, generator=g)
    mask = (torch.rand(2, 1, size, size, generator=g) > 0.7).float()
    exemplar = image * (1 - mask) + torch.rand(2, 3, size, size, generator=g) * mask
    return exemplar, image, mask


def test_an_untrained_refiner_returns_the_exemplar_fill_exactly():
    refiner = ExemplarRefiner(channels=(8, 16), style_dim=4, dilations=(2,)).eval()
    exemplar, image, mask = _inputs()
    out = refiner(exemplar, image, mask, torch.randn(2, 4))
    assert torch.equal(out, exemplar)
    assert torch.equal(refiner(exemplar, image, mask), exemplar)  # null style too


def test_only_hole_pixels_change_and_the_style_matters_once_trained():
    torch.manual_seed(0)
    refiner = ExemplarRefiner(channels=(8, 16), style_dim=4, dilations=(2,)).eval()
    for p in refiner.parameters():  # stand-in for training: every weight nonzero
        p.data.normal_(0, 0.2)
    exemplar, image, mask = _inputs(1)
    a = refiner(exemplar, image, mask, torch.randn(2, 4))
    b = refiner(exemplar, image, mask, torch.randn(2, 4))
    keep = mask.expand_as(image) == 0
    assert torch.equal(a[keep], image[keep]) and torch.equal(b[keep], image[keep])
    assert not torch.allclose(a, b)  # the style vector reaches the output
    assert (a - exemplar).abs().max() > 0


def test_odd_sizes_and_round_trip(tmp_path):
    refiner = ExemplarRefiner(channels=(8, 16, 16), style_dim=4, dilations=(2,))
    for p in refiner.parameters():
        p.data.normal_(0, 0.1)
    exemplar, image, mask = _inputs(2, 37)
    out = refiner(exemplar, image, mask)
    assert out.shape == image.shape
    refiner.save_pretrained(str(tmp_path))
    back = ExemplarRefiner.from_pretrained(str(tmp_path))
    torch.testing.assert_close(back(exemplar, image, mask), out)


def test_a_single_image_gives_what_it_gives_in_a_batch():
    """Inference on one image folds the style modulation into the norm; a batch modulates after it."""
    torch.manual_seed(0)
    refiner = ExemplarRefiner(channels=(8, 16), style_dim=4, dilations=(2,)).eval()
    for p in refiner.parameters():
        p.data.normal_(0, 0.2)
    exemplar, image, mask = _inputs()
    style = torch.randn(2, 4)
    with torch.no_grad():
        batch = refiner(exemplar, image, mask, style)
        single = torch.cat(
            [refiner(exemplar[i : i + 1], image[i : i + 1], mask[i : i + 1], style[i : i + 1]) for i in (0, 1)]
        )
    torch.testing.assert_close(single, batch, atol=1e-5, rtol=0)
    assert not torch.equal(batch[0], batch[1])


def test_spectral_blocks_see_the_whole_tile_and_start_at_zero():
    """Swapping two neighbouring pixels in one corner leaves the group-norm statistics as they were, so only a layer
    that mixes every position with every other can change the far corner: the spectral block does."""
    from artrestore.hub.exemplar_refiner import SpectralBlock

    torch.manual_seed(0)
    block = SpectralBlock(16).eval()
    x = torch.randn(1, 16, 32, 32)
    assert torch.equal(block(x), x)  # zero output layer: the identity
    for p in block.parameters():
        p.data.normal_(0, 0.2)
    swapped = x.clone()
    swapped[..., 0, 0], swapped[..., 0, 1] = x[..., 0, 1], x[..., 0, 0]
    with torch.no_grad():
        far = (block(swapped) - swapped - (block(x) - x))[..., -8:, -8:]
        conv = torch.nn.Conv2d(16, 16, 3, padding=1)
        local = conv(torch.nn.functional.group_norm(swapped, 8)) - conv(torch.nn.functional.group_norm(x, 8))
    assert far.abs().max() > 1e-5  # float noise of the transforms is below 1e-6
    assert local[..., -8:, -8:].abs().max() < 1e-6  # a convolution alone does not reach it

    spectral = ExemplarRefiner(channels=(8, 16), style_dim=4, dilations=(1,), global_blocks=1).eval()
    exemplar, image, mask = _inputs(3, 40)
    assert torch.equal(spectral(exemplar, image, mask), exemplar)  # the refiner too, on odd-stride sizes


def test_context_attention_reads_only_from_cells_outside_the_hole_and_starts_at_zero():
    from artrestore.hub.exemplar_refiner import ContextAttention

    torch.manual_seed(0)
    block = ContextAttention(16, heads=2, chunk=5).eval()  # a chunk that does not divide the 64 positions
    h = torch.randn(1, 16, 8, 8)
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 8:20, 4:16] = 1  # covers cells (2..4, 1..3): one hole pixel makes a cell unreadable
    assert torch.equal(block(h, hole), h)  # zero output layer: the identity
    for p in block.parameters():
        p.data.normal_(0, 0.2)
    with torch.no_grad():
        base = block(h, hole)

        def swapped(a: tuple[int, int], b: tuple[int, int]) -> torch.Tensor:  # the group norms' statistics stay
            out = h.clone()
            out[..., a[0], a[1]], out[..., b[0], b[1]] = h[..., b[0], b[1]], h[..., a[0], a[1]]
            return (block(out, hole) - base).abs().amax(1)[0]  # (8, 8)

        diff = swapped((3, 2), (2, 3))  # two hole cells: nobody reads them, so only their own outputs change
        others = torch.ones(8, 8, dtype=torch.bool)
        others[3, 2] = others[2, 3] = False
        assert diff[3, 2] > 1e-3 and diff[2, 3] > 1e-3 and diff[others].max() < 1e-5
        diff = swapped((3, 2), (6, 6))  # a hole cell's features moved into a known cell: every position reads it
        assert diff[others].min() > 1e-4
        # a tile that is all hole reads from everywhere instead of from nowhere (no NaN)
        assert torch.isfinite(block(h, torch.ones(1, 1, 32, 32))).all()

    refiner = ExemplarRefiner(channels=(8, 16), style_dim=4, dilations=(1,), attention_blocks=1).eval()
    exemplar, image, mask = _inputs(3, 40)
    assert torch.equal(refiner(exemplar, image, mask), exemplar)  # the refiner too, on odd-stride sizes
