from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lensscan.errors import UserError
from lensscan.models import (
    DEFAULT_MODEL,
    ENCODERS,
    LensFinder,
    ModelCard,
    create_encoder,
    create_lens_finder,
    load_model,
    save_model,
    select_device,
)
from lensscan.models.ecnn import DihedralGroup, EquivariantCNN
from lensscan.models.weights import init_from_checkpoint

HEAVY = {"efficientnet_b2", "resnet34", "densenet121"}


def _images(n: int = 4, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(10.0, 2.0, (n, 3, size, size)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_gives_finite_features_of_its_declared_width(name: str) -> None:
    torch.manual_seed(0)
    encoder = create_encoder(name, in_chans=3).eval()
    with torch.no_grad():
        features = encoder(torch.randn(2, 3, 32, 32))
    assert features.shape == (2, encoder.num_features)
    assert torch.isfinite(features).all()


def test_unknown_encoder_lists_the_valid_ones() -> None:
    with pytest.raises(UserError, match="small_cnn") as info:
        create_encoder("vgg_giant", 3)
    assert "ecnn" in str(info.value)


@pytest.mark.parametrize("rotations", [4, 8])
@pytest.mark.parametrize("size", [3, 5])
def test_kernel_permutations_are_a_group_action(rotations: int, size: int) -> None:
    group = DihedralGroup(rotations)
    perms = group.kernel_permutations(size)
    for a in range(group.order):
        for b in range(group.order):
            # (a b) . K == a . (b . K)
            assert torch.equal(perms[group.multiply(a, b)], perms[b][perms[a]])
    kernel = torch.arange(size * size).view(size, size)
    quarter = group.index(group.rotations // 4, 0)
    rotated = kernel.flatten()[perms[quarter]].view(size, size)
    assert torch.equal(rotated, torch.rot90(kernel, -1)) or torch.equal(
        rotated, torch.rot90(kernel, 1)
    )


_D4 = [
    lambda x: torch.rot90(x, 1, (-2, -1)),
    lambda x: torch.rot90(x, 2, (-2, -1)),
    lambda x: torch.rot90(x, 3, (-2, -1)),
    lambda x: x.flip(-1),
    lambda x: x.flip(-2),
    lambda x: torch.rot90(x, 1, (-2, -1)).flip(-1),
]


@pytest.mark.parametrize("rotations", [4, 8])
def test_ecnn_score_is_invariant_to_rotations_and_flips(rotations: int) -> None:
    torch.manual_seed(1)
    network = EquivariantCNN(3, rotations=rotations, widths=(4, 6, 8, 8)).double().eval()
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        reference = network(x)
        for transform in _D4:
            torch.testing.assert_close(network(transform(x)), reference, atol=1e-5, rtol=0)


def test_ecnn_finder_scores_are_invariant_in_float32() -> None:
    finder = create_lens_finder("ecnn", input_size=32, widths=(4, 6, 8, 8))
    images = _images(3)
    reference = finder.score(images)
    for transform in _D4:
        rotated = transform(torch.from_numpy(images)).contiguous().numpy()
        np.testing.assert_allclose(finder.score(rotated), reference, atol=1e-5)


def test_score_returns_probabilities_and_matches_score_tensor() -> None:
    finder = create_lens_finder("small_cnn", input_size=32)
    images = _images(5)
    scores = finder.score(images, batch_size=2)
    assert scores.shape == (5,) and scores.dtype == np.float64
    assert np.all((scores >= 0) & (scores <= 1))
    tensor_scores = finder.score_tensor(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(scores, tensor_scores, atol=1e-6)
    # Normalisation is part of the model: a per-band affine rescaling changes nothing.
    np.testing.assert_allclose(finder.score(images * 0.01 + 3.0), scores, atol=1e-5)
    assert finder.score(np.zeros((0, 3, 32, 32), np.float32)).shape == (0,)


@pytest.mark.parametrize("encoder", ["small_cnn", "ecnn"])
def test_channels_last_gives_the_same_scores(encoder: str) -> None:
    # On CUDA the finder runs channels-last (tensor-core kernels); the layout must not
    # change a score. Forced here on the CPU, where it is off by default.
    finder = create_lens_finder(encoder, input_size=32, widths=(4, 6, 8, 8))
    assert not finder.channels_last
    last = LensFinder(copy.deepcopy(finder.network), finder.card, "cpu", channels_last=True)
    kernels = [p for p in last.network.parameters() if p.dim() == 4]
    assert kernels and all(k.is_contiguous(memory_format=torch.channels_last) for k in kernels)
    images = _images(4)
    np.testing.assert_allclose(last.score(images), finder.score(images), atol=1e-6)


def test_confident_scores_do_not_tie_at_one() -> None:
    """Logits of 20 and 25 are both 1.0 in a float32 sigmoid; the ranking must keep them apart."""
    finder = create_lens_finder("small_cnn", input_size=32)
    head = finder.network.head
    with torch.no_grad():
        for parameter in head.parameters():
            parameter.zero_()
    images = _images(2)
    scores = []
    for bias in (20.0, 25.0):
        with torch.no_grad():
            head.linear.bias.fill_(bias)
        scores.append(finder.score(images[:1])[0])
    assert scores[0] < scores[1] < 1.0


def test_check_input_names_the_source_and_the_problem() -> None:
    finder = create_lens_finder("small_cnn", input_size=32)
    finder.check_input(("g", "r", "i"), (3, 32, 32), "x.zarr")
    with pytest.raises(UserError, match=r"x.zarr: bands i,r,g do not match"):
        finder.check_input(("i", "r", "g"), (3, 32, 32), "x.zarr")
    with pytest.raises(UserError, match=r"x.zarr: cutouts of shape \(3, 64, 64\)"):
        finder.check_input(("g", "r", "i"), (3, 64, 64), "x.zarr")
    with pytest.raises(ValueError, match="expects"):
        finder.score(_images(2, size=16))


def test_create_lens_finder_is_seeded_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(5)
    expected_next = torch.rand(1)
    torch.manual_seed(5)
    a = create_lens_finder("small_cnn", input_size=32, seed=3)
    assert torch.equal(torch.rand(1), expected_next)
    b = create_lens_finder("small_cnn", input_size=32, seed=3)
    np.testing.assert_array_equal(a.score(_images()), b.score(_images()))


def test_save_and_load_round_trip(tmp_path) -> None:
    finder = create_lens_finder("small_cnn", input_size=32, bands=("g", "r", "i"))
    out = save_model(finder, tmp_path / "weights" / "tiny", metrics={"auroc": 0.5})
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.safetensors"]
    loaded = load_model(out, device="cpu")
    assert isinstance(loaded, LensFinder)
    assert loaded.card == finder.card
    assert loaded.name == "tiny" and loaded.card.metrics == {"auroc": 0.5}
    assert loaded.sha256 is not None and len(loaded.sha256) == 64
    assert loaded.bands == ("g", "r", "i") and loaded.input_size == 32
    assert loaded.pixel_scale == pytest.approx(0.168)
    np.testing.assert_array_equal(loaded.score(_images()), finder.score(_images()))
    assert ModelCard.from_dict(json.loads((out / "model.json").read_text())) == loaded.card


def test_load_refuses_modified_weights(tmp_path) -> None:
    out = save_model(create_lens_finder(input_size=32), tmp_path / "m")
    weights = out / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match the card"):
        load_model(out)


def test_load_refuses_bad_cards(tmp_path) -> None:
    out = save_model(create_lens_finder(input_size=32), tmp_path / "m")
    card_path = out / "model.json"
    card = json.loads(card_path.read_text())
    card_path.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_model(out)
    card_path.write_text(json.dumps({**card, "card_format": "other/9"}))
    with pytest.raises(UserError, match="unsupported card format"):
        load_model(out)
    del card["bands"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(UserError, match="missing field"):
        load_model(out)
    card["bands"] = ["g", "r", "i"]
    card["encoder"] = "resnet34"
    card_path.write_text(json.dumps(card))
    with pytest.raises(UserError, match="weights do not fit"):
        load_model(out)


def test_name_resolution(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    # The shipped models must not answer for the default here.
    monkeypatch.setattr("lensscan.models.weights.PACKAGE_WEIGHTS", tmp_path / "package")
    monkeypatch.setenv("LENSSCAN_WEIGHTS", str(tmp_path / "env"))
    save_model(create_lens_finder(input_size=32), tmp_path / "env" / "alpha")
    save_model(create_lens_finder(input_size=32), tmp_path / "weights" / "beta")
    assert load_model("alpha").name == "alpha"
    assert load_model("beta").name == "beta"
    with pytest.raises(UserError, match="'gamma': not found"):
        load_model("gamma")
    with pytest.raises(UserError, match="no such folder"):
        load_model("./missing/dir")
    with pytest.raises(UserError, match=f"no default model '{DEFAULT_MODEL}'.*lensscan train"):
        load_model(None)
    save_model(create_lens_finder(input_size=32), tmp_path / "weights" / DEFAULT_MODEL)
    assert load_model(None).name == DEFAULT_MODEL


def test_init_from_checkpoint_matches_names_and_shapes(tmp_path) -> None:
    source = create_encoder("small_cnn", 3)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    # A first convolution for 5 bands cannot be used by a 3-band encoder: it stays fresh.
    state["body.0.weight"] = torch.zeros(8, 5, 3, 3)
    path = tmp_path / "init.safetensors"
    save_file(state, str(path))
    target = create_encoder("small_cnn", 3)
    loaded = init_from_checkpoint(target, path)
    assert "body.0.weight" not in loaded and "body.4.weight" in loaded
    assert torch.equal(target.state_dict()["body.4.weight"], source.state_dict()["body.4.weight"])
    save_file({"unrelated": torch.zeros(2)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(UserError, match="no tensor matches"):
        init_from_checkpoint(target, tmp_path / "bad.safetensors")
    with pytest.raises(UserError, match="no such file"):
        init_from_checkpoint(target, tmp_path / "absent.safetensors")


def test_select_device() -> None:
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(None).type in {"cuda", "mps", "cpu"}
    with pytest.raises(UserError, match="not a device"):
        select_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="not available"):
            select_device("cuda")
