"""GroupFace: the module, its weights check, and the kiosk embedders built from its weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from facenet_pytorch import InceptionResnetV1
from weights_fixtures import make_state_dict

from lockers.config import RecognitionConfig
from lockers.errors import WeightsError
from lockers.vision.align import standardise
from lockers.vision.embedder import (
    MIN_EXPORT_COSINE,
    OnnxEmbedder,
    TorchEmbedder,
    create_embedder,
    load_embedder,
    onnx_cache_path,
)
from lockers.vision.groupface import GroupFaceBlock, GroupFaceNetwork, block_architecture
from lockers.vision.weights import (
    GROUPFACE_ARCHITECTURE,
    PLAIN_ARCHITECTURE,
    expected_architecture,
    import_weights,
    load_weights,
    verify_state_dict,
)

GROUPS, HIDDEN = 4, 16


@pytest.fixture(scope="module")
def plain_state() -> dict[str, Any]:
    return make_state_dict(seed=3, with_logits=False)


def _groupface_state(plain: dict[str, Any], aggregation: str = "soft") -> dict[str, Any]:
    """Plain weights plus a random, clearly non-zero block (seeded)."""
    net = GroupFaceNetwork(GROUPS, HIDDEN, aggregation)  # type: ignore[arg-type]
    net.load_state_dict(plain, strict=False)
    torch.manual_seed(7)
    with torch.no_grad():
        net.groupface.group_weight.normal_(0.0, 0.05)
        net.groupface.group_bias.normal_(0.0, 0.5)
    return dict(net.state_dict())


@pytest.fixture(scope="module")
def groupface_state(plain_state: dict[str, Any]) -> dict[str, Any]:
    return _groupface_state(plain_state)


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 160, 160, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- the module


def test_network_returns_unit_embeddings_and_group_probabilities() -> None:
    net = GroupFaceNetwork(GROUPS, HIDDEN).eval()
    x = torch.randn(3, 3, 80, 80)
    with torch.no_grad():
        embedding = net(x)
        out = net(x, return_groups=True)
    assert embedding.shape == (3, 512)
    assert torch.allclose(embedding.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.equal(out.embedding, embedding)
    assert out.group_logits.shape == (3, GROUPS)
    assert torch.allclose(out.group_probs.sum(dim=1), torch.ones(3), atol=1e-6)


@pytest.mark.parametrize("aggregation", ["soft", "hard"])
def test_zero_initialised_block_gives_the_plain_networks_embedding(
    plain_state: dict[str, Any], aggregation: str
) -> None:
    plain = InceptionResnetV1(pretrained=None, classify=False)
    plain.load_state_dict(plain_state)
    net = GroupFaceNetwork(GROUPS, HIDDEN, aggregation)  # type: ignore[arg-type]
    missing, unexpected = net.load_state_dict(plain_state, strict=False)
    assert not unexpected and all(k.startswith("groupface.") for k in missing)
    x = torch.randn(2, 3, 80, 80)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), plain.eval()(x))


def test_block_soft_and_hard_aggregation_by_hand() -> None:
    torch.manual_seed(0)
    soft = GroupFaceBlock(dim=3, groups=2, hidden=4, aggregation="soft")
    with torch.no_grad():
        soft.group_weight.copy_(torch.stack([torch.eye(3), -2 * torch.eye(3)]))
        soft.group_bias.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    hard = GroupFaceBlock(dim=3, groups=2, hidden=4, aggregation="hard")
    hard.load_state_dict({**soft.state_dict(), "aggregation_code": torch.tensor(1)})
    v = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])
    final, logits = soft(v)
    p = torch.softmax(logits, dim=1)
    g0, g1 = v + torch.tensor([1.0, 0, 0]), -2 * v + torch.tensor([0, 1.0, 0])
    assert torch.allclose(final, v + p[:, :1] * g0 + p[:, 1:] * g1, atol=1e-6)
    hard_final, _ = hard(v)
    chosen = torch.where((p[:, 0] >= p[:, 1])[:, None], g0, g1)
    assert torch.allclose(hard_final, v + chosen, atol=1e-6)


def test_block_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 2 groups"):
        GroupFaceBlock(groups=1)
    with pytest.raises(ValueError, match="'soft' or 'hard'"):
        GroupFaceBlock(aggregation="mean")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- weights check


def test_verify_accepts_plain_and_groupface_weights(
    plain_state: dict[str, Any], groupface_state: dict[str, Any], tmp_path: Path
) -> None:
    kept = verify_state_dict(groupface_state)
    assert set(kept) == set(expected_architecture()) | set(block_architecture(GROUPS, HIDDEN))
    assert set(verify_state_dict(plain_state)) == set(expected_architecture())
    torch.save(groupface_state, tmp_path / "gf.pt")
    loaded = import_weights(tmp_path / "gf.pt", tmp_path / "models" / "gf.pt")
    assert loaded.architecture == GROUPFACE_ARCHITECTURE and loaded.groupface_groups == GROUPS
    assert loaded.model_version.startswith("irv1gf-")
    torch.save(plain_state, tmp_path / "plain.pt")
    plain = load_weights(tmp_path / "plain.pt")
    assert plain.architecture == PLAIN_ARCHITECTURE and plain.groupface_groups is None


def _drop(key: str) -> Any:
    def mutate(sd: dict[str, Any]) -> None:
        del sd[key]

    return mutate


def _put(key: str, value: Any) -> Any:
    def mutate(sd: dict[str, Any]) -> None:
        sd[key] = value() if callable(value) else value

    return mutate


def _nan_in_group_weight(sd: dict[str, Any]) -> None:
    sd["groupface.group_weight"] = sd["groupface.group_weight"].clone()
    sd["groupface.group_weight"][1, 2, 3] = float("inf")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_drop("groupface.gdn.2.bias"), r"1 missing keys: groupface\.gdn\.2\.bias"),
        (
            _put("groupface.group_bias", lambda: torch.zeros(3, 512)),
            r"groupface\.group_bias \[3, 512\] \(expected \[4, 512\]\)",
        ),
        (
            _put("groupface.gdn.2.weight", lambda: torch.zeros(5, HIDDEN)),
            r"K=4 groups.*groupface\.gdn\.2\.weight \[5, 16\] \(expected \[4, 16\]\)",
        ),
        (_put("groupface.extra", lambda: torch.zeros(2)), r"1 unexpected keys: groupface\.extra"),
        (_drop("groupface.group_weight"), r"K must come from groupface\.group_weight.*nothing"),
        (
            _put("groupface.group_weight", lambda: torch.zeros(4, 512)),
            r"K must come from .* found groupface\.group_weight \[4, 512\]",
        ),
        (_nan_in_group_weight, r"NaN or infinite values: groupface\.group_weight"),
        (
            _put("groupface.aggregation_code", lambda: torch.tensor(7)),
            r"aggregation_code is 7 \(expected 0 = soft or 1 = hard\)",
        ),
        (
            _put("groupface.aggregation_code", lambda: torch.tensor(0.0)),
            r"wrong dtype: groupface\.aggregation_code torch\.float32 \(expected integer\)",
        ),
    ],
    ids=["missing", "bias-k", "gdn-k", "unexpected", "no-k", "k-rank", "inf", "code", "code-dtype"],
)
def test_malformed_groupface_blocks_are_refused(
    groupface_state: dict[str, Any], mutate: Any, expected: str
) -> None:
    sd = dict(groupface_state)
    mutate(sd)
    with pytest.raises(WeightsError, match=expected) as info:
        verify_state_dict(sd, origin="gf.pt")
    assert info.value.message.startswith("gf.pt has a GroupFace block (groupface.*)")
    assert "lockers train" in info.value.hint and "groupface" in info.value.hint


def test_a_broken_backbone_under_a_good_block_gets_the_plain_message(
    groupface_state: dict[str, Any],
) -> None:
    sd = {k: v for k, v in groupface_state.items() if not k.startswith("block8.")}
    sd["head.weight"] = torch.zeros(3)
    with pytest.raises(WeightsError, match=r"does not fit InceptionResnetV1.*22 missing keys.*"):
        verify_state_dict(sd, origin="gf.pt")


# --------------------------------------------------------------------------- kiosk embedders


def test_kiosk_embedders_build_the_groupface_network(
    plain_state: dict[str, Any], groupface_state: dict[str, Any], tmp_path: Path
) -> None:
    """torch and ONNX back-ends (export, check, cache, lean start) match the module itself."""
    torch.save(groupface_state, tmp_path / "gf-src.pt")
    weights = tmp_path / "models" / "gf.pt"
    loaded = import_weights(tmp_path / "gf-src.pt", weights, version="site-gf-1")
    faces = _faces(3)
    x = torch.from_numpy(standardise(faces))
    module = GroupFaceNetwork(GROUPS, HIDDEN)
    module.load_state_dict(groupface_state)
    plain = InceptionResnetV1(pretrained=None, classify=False)
    plain.load_state_dict(plain_state)
    with torch.no_grad():
        reference = module.eval()(x).numpy()
        without_block = plain.eval()(x).numpy()
    assert np.min(np.sum(reference * without_block, axis=1)) < 0.99  # the block matters

    config = RecognitionConfig(weights=weights, threads=2)
    eager = create_embedder(config.model_copy(update={"backend": "torch"}), loaded)
    assert isinstance(eager, TorchEmbedder) and isinstance(eager.network, GroupFaceNetwork)
    assert np.allclose(eager.embed(faces), reference, atol=1e-5)

    onnx = create_embedder(config, loaded)  # exports, checks cosine, caches
    assert isinstance(onnx, OnnxEmbedder) and onnx.model_version == "site-gf-1"
    assert onnx.path == onnx_cache_path(weights, loaded.sha256) and onnx.path.is_file()
    assert np.min(np.sum(onnx.embed(faces) * reference, axis=1)) >= MIN_EXPORT_COSINE
    lean = load_embedder(config)  # the cached export, found through the manifest
    assert isinstance(lean, OnnxEmbedder) and lean.path == onnx.path
    assert np.min(np.sum(lean.embed(faces) * reference, axis=1)) >= MIN_EXPORT_COSINE


def test_hard_aggregation_survives_the_onnx_export(
    plain_state: dict[str, Any], tmp_path: Path
) -> None:
    state = _groupface_state(plain_state, "hard")
    torch.save(state, tmp_path / "hard.pt")
    loaded = import_weights(tmp_path / "hard.pt", tmp_path / "models" / "hard.pt")
    module = GroupFaceNetwork(GROUPS, HIDDEN, "hard")
    module.load_state_dict(state)
    faces = _faces(2, seed=1)
    with torch.no_grad():
        reference = module.eval()(torch.from_numpy(standardise(faces))).numpy()
    onnx = create_embedder(RecognitionConfig(weights=loaded.path, threads=2), loaded)
    assert np.min(np.sum(onnx.embed(faces) * reference, axis=1)) >= MIN_EXPORT_COSINE
