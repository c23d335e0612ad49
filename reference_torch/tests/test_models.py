"""Step 3 in the reference: model shapes, the Conv2d variant and the registry."""

import pytest
import torch

from dna_tutorial import registry
from reference_torch.models import DNA_CNN, DNA_CNN2d, build_model, conv_layer


@pytest.mark.parametrize(
    ("name", "out"), [("linear", 1), ("cnn", 1), ("cnn2d", 1), ("classifier", 3)]
)
@pytest.mark.parametrize("seq_len", [8, 20])
def test_output_shapes(name, out, seq_len):
    model = build_model(name, seq_len, num_filters=5, kernel_size=4)
    assert model(torch.rand(6, seq_len, 4)).shape == (6, out)


def test_cnn_has_the_tutorials_layers():
    model = build_model("cnn", 8)
    conv, linear = model.conv_net[0], model.conv_net[3]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (4, 32, (3,))
    assert conv.padding == (0,) and linear.in_features == 32 * 6


def test_conv2d_variant_equals_conv1d_with_the_same_weights():
    torch.manual_seed(0)
    cnn, cnn2d = DNA_CNN(8), DNA_CNN2d(8)
    state = cnn.state_dict()
    state["conv_net.0.weight"] = state["conv_net.0.weight"].unsqueeze(1)  # (F, 1, 4, k)
    cnn2d.load_state_dict(state)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (50, 8)), 4).float()
    torch.testing.assert_close(cnn2d(x), cnn(x), rtol=1e-6, atol=1e-6)


def test_registry_and_errors():
    assert {"linear", "cnn", "cnn2d", "classifier"} <= set(registry.names())
    assert isinstance(build_model("cnn", 8), DNA_CNN)
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        build_model("rnn", 8)
    with pytest.raises(ValueError, match=r"kernel_size must be in 1\.\.seq_len=4"):
        build_model("cnn", 4, kernel_size=5)
    with pytest.raises(ValueError, match="no convolution"):
        conv_layer(build_model("linear", 8))


def test_deep_cnn_state_lives_in_buffers_and_modes_switch_it():
    torch.manual_seed(0)
    model = build_model("deep", 8)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (16, 8)), 4).float()
    before = model.blocks[0].bn.running_mean.clone()
    model.eval()
    a, b = model(x), model(x)
    assert torch.equal(a, b) and torch.equal(model.blocks[0].bn.running_mean, before)
    model.train()
    model(x)
    assert not torch.equal(model.blocks[0].bn.running_mean, before)  # updated in place
    assert "blocks.0.bn.running_var" in model.state_dict()  # buffers travel with the weights
    assert build_model("deep_multilabel", 8, num_classes=5)(x).shape == (16, 5)


def test_dropout_keeps_the_right_fraction_and_scales_by_one_over_keep():
    torch.manual_seed(0)
    y = torch.nn.Dropout(0.3)(torch.ones(200, 500))  # modules start in train mode
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.01
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
