"""UNet3D: seed-compatible keys and shapes, fixture outputs, architecture read back from shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from heartseg.model import UNet3D, architecture_from_state_dict, build_model, count_parameters, strip_module_prefix

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURES = SHARED / "fixtures"
needs_shared = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")


def test_default_model_parameter_count():
    # the classic homework model's count, stated in the fixtures README
    assert count_parameters(UNet3D()) == 22_581_217


@needs_shared
def test_default_model_has_exactly_the_seed_keys_and_shapes():
    expected = json.loads((FIXTURES / "seed_unet3d_keys.json").read_text())
    sd = UNet3D().state_dict()
    assert list(sd) == list(expected["state_dict"])  # same order too: DataParallel users sometimes zip by position
    assert {k: list(v.shape) for k, v in sd.items()} == expected["state_dict"]
    assert count_parameters(UNet3D()) == expected["trainable_parameters"]


@needs_shared
@pytest.mark.parametrize("name", ["seed_tiny_state_dict.pth", "seed_tiny_dataparallel_state_dict.pth"])
def test_tiny_fixture_loads_strictly_and_reproduces_the_expected_output(name):
    expected = json.loads((FIXTURES / "seed_tiny_expected.json").read_text())
    sd = strip_module_prefix(torch.load(FIXTURES / name, map_location="cpu", weights_only=True))
    arch = architecture_from_state_dict(sd)
    assert arch == {"in_channels": 1, "out_channels": 1, "features": [4, 8, 16, 32]}
    model = build_model(**arch)
    model.load_state_dict(sd, strict=True)
    model.eval()
    assert count_parameters(model) == expected["trainable_parameters"]
    x = torch.linspace(-1, 1, 13440, dtype=torch.float32).reshape(1, 1, 20, 24, 28)
    with torch.no_grad():
        y = model(x)
    assert list(y.shape) == expected["output_shape"]
    rel = 1e-4
    assert y.sum().item() == pytest.approx(expected["output_sum"], rel=rel)
    assert y.mean().item() == pytest.approx(expected["output_mean"], rel=rel)
    assert y[0, 0, 0, 0, 0].item() == pytest.approx(expected["output_at_0_0_0_0_0"], rel=rel)
    assert y[0, 0, 10, 12, 14].item() == pytest.approx(expected["output_at_0_0_10_12_14"], rel=rel)
    assert y.flatten()[-1].item() == pytest.approx(expected["output_at_last"], rel=rel)


@pytest.mark.parametrize("in_ch,out_ch,features", [
    (1, 1, [4, 8]),
    (2, 3, [4, 8, 16]),
    (1, 4, [6, 12, 24, 48, 96]),
])
def test_architecture_is_read_back_from_shapes(in_ch, out_ch, features):
    model = build_model(in_ch, out_ch, features)
    assert architecture_from_state_dict(model.state_dict()) == {
        "in_channels": in_ch, "out_channels": out_ch, "features": features}
    prefixed = {f"module.{k}": v for k, v in model.state_dict().items()}
    assert architecture_from_state_dict(prefixed)["features"] == features


@pytest.mark.parametrize("shape", [(16, 16, 16), (20, 24, 28), (9, 17, 13), (8, 8, 8)])
def test_any_input_size_gives_an_output_of_the_same_size(shape):
    model = build_model(1, 2, [2, 4, 8]).eval()
    with torch.no_grad():
        y = model(torch.randn(1, 1, *shape))
    assert tuple(y.shape) == (1, 2, *shape)


def test_parameter_count_formula_for_a_small_model():
    # conv3x3x3 + BN per layer, two per block; transposed 2x2x2 up-convs; 1x1x1 head
    def dc(i, o):
        return (i * o * 27 + o) + 2 * o + (o * o * 27 + o) + 2 * o
    f = [2, 4]
    expected = dc(1, 2) + dc(2, 4) + dc(4, 8) + (8 * 4 * 8 + 4) + dc(8, 4) + (4 * 2 * 8 + 2) + dc(4, 2) + (2 * 1 + 1)
    assert count_parameters(build_model(1, 1, f)) == expected


@pytest.mark.parametrize("kwargs", [
    {"in_channels": 0}, {"out_channels": 0}, {"features": []}, {"features": [4, 0]}, {"features": "32"},
    {"in_channels": True},
])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        UNet3D(**kwargs)


@pytest.mark.parametrize("sd,message", [
    ({}, "encoder_layers.0"),
    ({"encoder_layers.0.double_conv.0.weight": torch.zeros(4, 1, 3, 3)}, "final_conv"),
    ({"encoder_layers.0.double_conv.0.weight": torch.zeros(4, 1, 3, 3),
      "final_conv.weight": torch.zeros(1, 4, 1, 1)}, "5-D"),
])
def test_state_dicts_of_other_models_are_refused(sd, message):
    with pytest.raises(ValueError, match=message):
        architecture_from_state_dict(sd)
