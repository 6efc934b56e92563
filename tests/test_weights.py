"""Weights files: round trip, identity, and validation of bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import loud_tiny_model, smooth_image
from mspviewer.codec import decode_bytes, encode_image, load_model, save_weights
from mspviewer.codec.weights import read_weights_file
from mspviewer.errors import ModelFileError


def test_saved_model_reloads_with_same_identity_and_decodes(tmp_path, tiny_model):
    path = tmp_path / "m.pt"
    save_weights(tiny_model, path, name="tiny", card={"note": "test"})
    first, second = load_model(path), load_model(path)
    assert first.model_id() == second.model_id()
    assert first.name == "tiny" and first.card["note"] == "test"
    assert first.config == tiny_model.config
    # Stored in float16: the loaded weights are the fp16-rounded originals.
    for key, value in tiny_model.state_dict().items():
        torch.testing.assert_close(first.state_dict()[key], value.half().float(), rtol=0, atol=0)
    pixels = smooth_image(40, 40)
    encoded = encode_image(first, pixels, 0.01)
    np.testing.assert_array_equal(decode_bytes(second, encoded.bitstream).pixels,
                                  encoded.reconstruction)


def test_identity_changes_with_any_weight(tiny_model):
    other = loud_tiny_model(seed=1)
    assert other.model_id() == tiny_model.model_id()
    with torch.no_grad():
        next(other.prior.parameters()).view(-1)[0] += 1e-3
    assert other.model_id() != tiny_model.model_id()


def test_missing_corrupt_and_foreign_files_are_refused(tmp_path, tiny_model):
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "absent.pt")
    with pytest.raises(ModelFileError, match="is a folder, not a weights file"):
        load_model(tmp_path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="not a readable weights file"):
        load_model(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ModelFileError, match="not an mspviewer weights file"):
        load_model(foreign)


def test_weights_inconsistent_with_config_are_refused(tmp_path, tiny_model):
    path = tmp_path / "m.pt"
    save_weights(tiny_model, path, name="tiny")
    payload = read_weights_file(path)
    payload["config"]["transform"]["channels"] = 32  # shapes no longer match
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="does not match|shape"):
        load_model(path)
    payload = read_weights_file(path)
    payload["config"]["transform"]["channels"] = 16
    key = next(iter(payload["state_dict"]))
    payload["state_dict"][key] = payload["state_dict"][key].clone().fill_(float("nan"))
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="non-finite"):
        load_model(path)


@pytest.mark.parametrize("damage", ["int-weight", "integer-tensor", "card-list", "name-none"])
def test_malformed_entries_are_refused_or_named_sensibly(tmp_path, tiny_model, damage):
    path = tmp_path / "m.pt"
    save_weights(tiny_model, path, name="tiny")
    payload = read_weights_file(path)
    key = next(iter(payload["state_dict"]))
    if damage == "int-weight":
        payload["state_dict"][key] = 3
    elif damage == "integer-tensor":
        payload["state_dict"][key] = payload["state_dict"][key].to(torch.int64)
    elif damage == "card-list":
        payload["card"] = ["not", "a", "card"]
    else:
        payload["name"] = None
    torch.save(payload, path)
    if damage == "name-none":  # a nameless file is named after itself, not "None"
        assert load_model(path).name == "m"
        return
    with pytest.raises(ModelFileError, match="not a floating-point tensor|card"):
        load_model(path)


@pytest.mark.parametrize("section,key,value", [
    ("transform", "channels", 16.0), ("transform", "latent_channels", True),
    ("msp", "num_groups", 2.0), ("msp", "context_width", -4), ("msp", "coarsest_width", 0),
    ("coding", "sigma_levels", 64.5), ("coding", "sigma_levels", 10**12),
    ("coding", "symbol_bound", 2.5), ("coding", "sigma_max", float("inf")),
    ("rate", "lambdas", [0.001, float("inf")])])
def test_impossible_configuration_values_are_refused_clearly(tmp_path, tiny_model, section,
                                                             key, value):
    """A hand-edited configuration failed inside torch (TypeError, RuntimeError: an internal
    error in the CLI and the GUI) or loaded and failed at the first encode (σ = ∞)."""
    path = tmp_path / "m.pt"
    save_weights(tiny_model, path, name="tiny")
    payload = read_weights_file(path)
    payload["config"][section][key] = value
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="invalid model configuration"):
        load_model(path)


@pytest.mark.parametrize("latent_channels, num_groups", [(256, 256), (65536 * 2, 4)])
def test_configurations_the_bitstream_header_cannot_describe_are_refused(latent_channels,
                                                                           num_groups):
    """The header stores the group count in one byte and the latent channels in two: such a
    model trained and loaded, then failed with struct.error at its first encode."""
    from mspviewer.codec import MSPConfig, ModelConfig, TransformConfig

    with pytest.raises(ModelFileError, match="at most 255 channel groups and 65,535"):
        ModelConfig(transform=TransformConfig(latent_channels=latent_channels),
                    msp=MSPConfig(num_groups=num_groups))


def test_a_failed_save_keeps_the_previous_weights_and_leaves_no_temporary(tmp_path, tiny_model,
                                                                         monkeypatch):
    path = tmp_path / "m.pt"
    save_weights(tiny_model, path, name="first")
    before = path.read_bytes()

    def torch_save_that_fails_halfway(payload, handle):
        handle.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", torch_save_that_fails_halfway)
    with pytest.raises(OSError, match="No space"):
        save_weights(tiny_model, path, name="second")
    assert path.read_bytes() == before and load_model(path).name == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_huge_widths_are_refused_before_allocating(tmp_path, tiny_model, monkeypatch):
    """A small file whose configuration asks for huge networks is refused by its shapes
    without building them (it allocated gigabytes first, or failed with a RuntimeError)."""
    from mspviewer.codec import weights

    path = tmp_path / "m.pt"
    save_weights(tiny_model, path, name="tiny")
    payload = read_weights_file(path)
    payload["config"]["transform"]["channels"] = 100_000  # g_s alone: ~10^12 weights
    torch.save(payload, path)
    built = []
    original = weights.MSPCodec

    def recording(config):
        built.append(torch.empty(0).device.type)  # the default device it is built on
        return original(config)

    monkeypatch.setattr(weights, "MSPCodec", recording)
    with pytest.raises(ModelFileError, match="shape"):
        load_model(path)
    assert built == ["meta"]


def test_shipped_model_card_is_complete(shipped_model):
    card = shipped_model.card
    for key in ("architecture", "parameters", "training_data", "training_steps",
                "wall_seconds", "device"):
        assert key in card, key
    total = sum(p.numel() for p in shipped_model.parameters())
    assert card["parameters"]["total"] == total
    assert 2e6 <= total <= 6e6
