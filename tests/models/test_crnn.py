import pytest
import torch

from clearspeech.models import ModelParams, build_model, parameter_count
from clearspeech.models.crnn import CRNN, CRNNConfig

from conftest import TINY_CRNN


@pytest.mark.parametrize("bins", [257, 161, 129])
@pytest.mark.parametrize("frames", [1, 7, 50])
@pytest.mark.parametrize("target", ["irm", "mapping"])
def test_output_shape_matches_input(bins, frames, target):
    model = CRNN(CRNNConfig(channels=8, kernel_freq=32, kernel_time=5, stride_freq=16, rnn_hidden=16, rnn_layers=2),
                 bins, target)
    out = model(torch.randn(3, frames, bins))
    assert out.shape == (3, frames, bins)
    if target == "irm":
        assert out.min() >= 0 and out.max() <= 1


def test_paper_defaults_size():
    model = build_model("crnn", {}, 257, "irm")
    assert 60e6 < parameter_count(model) < 70e6
    assert model.conv.kernel_size == (11, 32) and model.conv.stride == (1, 16) and model.rnn.hidden_size == 1024


def test_a_few_hundred_steps_overfit_a_tiny_batch():
    torch.manual_seed(0)
    model = build_model("crnn", {**TINY_CRNN, "channels": 8, "rnn_hidden": 32}, 64, "mapping")
    noisy, clean = torch.randn(4, 40, 64), torch.randn(4, 40, 64)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        loss = (model(noisy) - clean).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="kernel_time must be odd"):
        CRNNConfig(kernel_time=4)
    with pytest.raises(ValueError, match="fewer than kernel_freq"):
        CRNN(CRNNConfig(), 16, "irm")
    with pytest.raises(ValueError, match="unknown keys"):
        build_model("crnn", {"chanels": 3}, 257, "irm")
    with pytest.raises(ValueError, match="model.arch: must be one of"):
        ModelParams(arch="transformer")
    with pytest.raises(ValueError, match="model.target: must be one of"):
        ModelParams(target="ibm")
    with pytest.raises(ValueError, match=r"model.crnn.dropout: must be < 1, got 1.5"):
        CRNNConfig(dropout=1.5)
    # A typo in a sub-section is caught when the params are read, not when training starts.
    with pytest.raises(ValueError, match=r"model.crnn: CRNNConfig: unknown keys \['chanels'\]"):
        ModelParams(crnn={"chanels": 3})
