"""ArtRestore-Diffusion components: shapes, conditioning paths, save/load and export self-containment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from artrestore.hub import BUNDLE_FILES, PIPELINE_MODULES, ArtRestoreUNet, FiLMMaskEncoder, StyleEncoder, damage_planes

TINY_UNET = dict(
    block_channels=(32, 64),
    attention_levels=(False, True),
    style_dim=16,
    style_tokens=2,
    token_dim=32,
    retrieval_dim=8,
    heads=2,
    groups=8,
    retrieval_routing=0,
)


@pytest.fixture
def unet() -> ArtRestoreUNet:
    torch.manual_seed(0)
    return ArtRestoreUNet(**TINY_UNET).eval()


def _inputs(b: int = 2, side: int = 8):
    return torch.randn(b, 4, side, side), torch.randn(b, 4, side, side), torch.rand(b, 1, side, side)


def test_unet_shapes_and_timestep_forms(unet):
    x, ml, lm = _inputs()
    out = unet(x, 10, ml, lm).sample
    assert out.shape == x.shape
    assert unet(x, torch.tensor([10, 10]), ml, lm).sample.allclose(out, atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 2"):
        unet(torch.randn(1, 4, 7, 8), 1, torch.randn(1, 4, 7, 8), torch.rand(1, 1, 7, 8))


def _perturb(module: torch.nn.Module) -> None:
    """Zero-initialised output layers make every condition a no-op at first; give them weights to test the paths."""
    with torch.no_grad():
        for p in module.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.1)


def test_every_condition_changes_the_prediction(unet):
    _perturb(unet)
    x, ml, lm = _inputs()
    base = unet(x, 5, ml, lm).sample
    style = torch.nn.functional.normalize(torch.randn(2, 16), dim=1)
    assert not unet(x, 5, ml, lm, style=style).sample.allclose(base)
    film = [
        (torch.randn(2, 32, 8, 8) * 0.1, torch.randn(2, 32, 8, 8) * 0.1),
        (torch.randn(2, 64, 4, 4) * 0.1, torch.randn(2, 64, 4, 4) * 0.1),
    ]
    assert not unet(x, 5, ml, lm, film=film).sample.allclose(base)
    retrieved = torch.randn(2, 3, 8)
    with_r = unet(x, 5, ml, lm, retrieved=retrieved).sample
    assert not with_r.allclose(base)
    masked_out = unet(x, 5, ml, lm, retrieved=retrieved, retrieved_mask=torch.zeros(2, 3, dtype=torch.bool)).sample
    assert masked_out.allclose(base, atol=1e-5), "masked retrieval slots must be ignored"


def test_attention_probabilities_can_be_kept(unet):
    for m in unet.attention_modules():
        m.keep_probs = True
    x, ml, lm = _inputs()
    kept = unet(x, 5, ml, lm, retrieved=torch.randn(2, 3, 8)).sample
    probs = [m.last_probs for m in unet.attention_modules()]
    assert all(p is not None and p.shape[-1] == 2 + 3 for p in probs)
    assert torch.allclose(probs[0].sum(-1), torch.ones(()), atol=1e-5)
    for m in unet.attention_modules():
        m.keep_probs = False
    assert unet(x, 5, ml, lm, retrieved=torch.randn(2, 3, 8)).sample.shape == kept.shape


def test_cell_tokens_split_each_patch_in_source_major_order():
    """retrieval_cells=2: a (4, 4, 4) patch becomes 4 tokens of its 2x2 latent cells, patch j owning tokens
    style_tokens + 4j .. 4j + 3, and the validity of a slot covers all of its cells."""
    torch.manual_seed(0)
    unet = ArtRestoreUNet(**{**TINY_UNET, "retrieval_dim": 64, "retrieval_cells": 2}).eval()
    _perturb(unet)
    patches = torch.arange(2 * 3 * 64, dtype=torch.float32).reshape(2, 3, 64)  # (b, k, c*p*p)
    cells = unet.retrieval_cells(patches)  # (b, k, 4, c*2*2)
    assert cells.shape == (2, 3, 4, 16)
    grid = patches.reshape(2, 3, 4, 4, 4)  # (b, k, c, p, p)
    assert torch.equal(cells[1, 2, 1].reshape(4, 2, 2), grid[1, 2, :, 0:2, 2:4])  # cell (0, 1): top right
    assert torch.equal(cells[0, 1, 2].reshape(4, 2, 2), grid[0, 1, :, 2:4, 0:2])  # cell (1, 0): bottom left
    valid = torch.tensor([[True, False, True], [True, True, True]])
    tokens, mask = unet.condition_tokens(torch.randn(2, 16), patches, valid)
    assert tokens.shape == (2, 2 + 3 * 4, 32)
    assert mask[0].tolist() == [True] * 2 + [True] * 4 + [False] * 4 + [True] * 4
    x, ml, lm = _inputs()
    r = torch.randn(2, 3, 64)
    base = unet(x, 5, ml, lm).sample
    assert unet(x, 5, ml, lm, retrieved=r, retrieved_mask=torch.zeros(2, 3, dtype=torch.bool)).sample.allclose(
        base, atol=1e-5
    )
    swapped = r.reshape(2, 3, 4, 4, 4).flip(-1).reshape(2, 3, 64)  # the same content at other cell positions
    assert not unet(x, 5, ml, lm, retrieved=swapped).sample.allclose(unet(x, 5, ml, lm, retrieved=r).sample)


def test_routing_lets_each_pixel_read_one_patch():
    """retrieval_routing=1: every pixel's retrieved-token attention lies on the cells of one patch; the style
    tokens keep theirs; with routing 0 the same weights give the plain attention."""
    torch.manual_seed(0)
    config = {**TINY_UNET, "retrieval_dim": 64, "retrieval_cells": 2}
    plain = ArtRestoreUNet(**config).eval()
    _perturb(plain)
    routed = ArtRestoreUNet(**{**config, "retrieval_routing": 1}).eval()
    routed.load_state_dict(plain.state_dict())
    x, ml, lm = _inputs()
    r = torch.randn(2, 3, 64)
    for m in (*plain.attention_modules(), *routed.attention_modules()):
        m.keep_probs = True
    out_plain = plain(x, 5, ml, lm, retrieved=r).sample
    out_routed = routed(x, 5, ml, lm, retrieved=r).sample
    assert not out_routed.allclose(out_plain)
    for i, (mp, mr) in enumerate(zip(plain.attention_modules(), routed.attention_modules())):
        p, q = mp.last_probs, mr.last_probs  # (b, heads, hw, 2 + 3 * 4)
        assert torch.allclose(q.sum(-1), torch.ones(()), atol=1e-5)
        per_patch = q[..., 2:].reshape(*q.shape[:3], 3, 4).sum((1, 4))  # (b, hw, 3)
        assert ((per_patch > 0).sum(-1) == 1).all(), "each pixel must read exactly one patch"
        if i == 0:  # the first attention sees the same features in both models (later ones follow the routing)
            top = p[..., 2:].reshape(*p.shape[:3], 3, 4).sum((1, 4)).argmax(-1)  # the plain attention's top patch
            assert torch.equal(per_patch.argmax(-1), top)
            assert (q[..., :2] >= p[..., :2] - 1e-6).all()  # the style tokens stay (renormalised upwards)
    for m in plain.attention_modules():  # the fused (SDPA) path of the unrouted model is the same function
        m.keep_probs = False
    assert plain(x, 5, ml, lm, retrieved=r).sample.allclose(out_plain, atol=1e-5)
    with pytest.raises(ValueError, match="retrieval_routing"):
        ArtRestoreUNet(**{**config, "retrieval_routing": -1})


def test_cells_must_divide_the_patch():
    with pytest.raises(ValueError, match="retrieval_cells"):
        ArtRestoreUNet(**{**TINY_UNET, "retrieval_dim": 64, "retrieval_cells": 3})
    unet = ArtRestoreUNet(**{**TINY_UNET, "retrieval_dim": 64, "retrieval_cells": 2})
    with pytest.raises(ValueError, match="retrieved"):
        unet.retrieval_cells(torch.randn(1, 2, 48))


def test_film_encoder_levels_and_zero_start():
    enc = FiLMMaskEncoder(latent_stride=4, base_channels=8, unet_channels=(32, 64))
    mask = (torch.rand(2, 1, 32, 32) > 0.8).float()
    with torch.no_grad():
        out = enc(mask, torch.rand(2, 1, 32, 32))
    assert [g.shape for g, _ in out] == [(2, 32, 8, 8), (2, 64, 4, 4)]
    assert all(float(g.abs().max()) == 0 and float(b.abs().max()) == 0 for g, b in out)
    with pytest.raises(ValueError, match="power of 2"):
        FiLMMaskEncoder(latent_stride=3)


def test_damage_planes_binary_and_continuous_share_one_input():
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 1
    fade = torch.zeros(1, 1, 4, 4)
    fade[..., 3, 3] = 0.5
    planes = damage_planes(mask, fade, None)
    assert planes.shape == (1, 6, 4, 4)
    assert planes[0, 4, 0, 0] == 1 and planes[0, 5, 3, 3] == 1 and planes[0, 1, 3, 3] == 0.5


def test_style_encoder_unit_vectors_and_masking():
    torch.manual_seed(0)
    enc = StyleEncoder(channels=(8, 16), style_dim=12)
    img = torch.rand(3, 3, 64, 64)
    v = enc(img)
    assert v.shape == (3, 12) and torch.allclose(v.norm(dim=1), torch.ones(3), atol=1e-5)
    valid = torch.zeros(3, 1, 64, 64)
    valid[..., :16] = 1
    changed = img.clone()
    changed[..., 48:] = 0  # only pixels far outside the valid part (beyond the receptive field) change
    assert not torch.allclose(enc(img), enc(changed), atol=1e-4)
    assert torch.allclose(enc(img, valid), enc(changed, valid), atol=1e-4)


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (ArtRestoreUNet, TINY_UNET),
        (FiLMMaskEncoder, dict(base_channels=8, unet_channels=(32, 64))),
        (StyleEncoder, dict(channels=(8, 16), style_dim=12)),
    ],
)
def test_save_load_roundtrip(cls, kwargs, tmp_path):
    torch.manual_seed(0)
    model = cls(**kwargs)
    model.save_pretrained(tmp_path / "m")
    loaded = cls.from_pretrained(tmp_path / "m")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert (tmp_path / "m" / "diffusion_pytorch_model.safetensors").exists()


@pytest.mark.parametrize("name", sorted(set(BUNDLE_FILES.values())))
def test_component_files_are_self_contained(name):
    """Exported checkpoints carry these files; they may import only the standard library, torch, diffusers, faiss,
    PIL and (the pipeline files) each other. An import inside ``try: ... except ImportError:`` is optional (the
    file has a fallback that the tests run) and is not counted."""
    path = Path(__file__).resolve().parents[2] / "artrestore" / "hub" / name
    tree = ast.parse(path.read_text())
    optional = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers
        ):
            optional |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    roots = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports only between the pipeline's own files (the model folder's root)
                assert name.removesuffix(".py") in PIPELINE_MODULES, f"{name} uses a relative import"
                assert node.module in PIPELINE_MODULES, f"{name} imports {node.module}, which does not ship beside it"
                continue
            roots.add(node.module.split(".")[0])
    allowed = {
        "__future__",
        "math",
        "dataclasses",
        "collections",
        "concurrent",
        "contextlib",
        "typing",
        "enum",
        "importlib",
        "inspect",
        "os",
        "difflib",
        "PIL",
        "huggingface_hub",
        "json",
        "pathlib",
        "torch",
        "diffusers",
        "numpy",
        "faiss",
        "safetensors",
    }
    assert roots <= allowed, roots - allowed
