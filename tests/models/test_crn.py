import pytest
import torch
from torch import nn

from clearspeech.core.config import from_mapping
from clearspeech.inference.enhancer import Enhancer
from clearspeech.inference.streaming import StreamingEnhancer
from clearspeech.models.crn import CRN, CRNConfig, CRNStream

from conftest import write_checkpoint

SMALL = {"channels": (4, 8, 8, 16, 16)}


def small_eval_model(target: str, seed: int = 0, **overrides) -> CRN:
    """A small CRN in eval mode with non-trivial batch-norm statistics (identity stats hide bugs)."""
    torch.manual_seed(seed)
    model = CRN(CRNConfig(**{**SMALL, **overrides}), target).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize("n_fft, hop", [(320, 160), (256, 64), (512, 128), (128, 64)])
@pytest.mark.parametrize("frames", [1, 2, 7, 50])
@pytest.mark.parametrize("target", ["irm", "mapping"])
def test_output_shape_matches_input(n_fft, hop, frames, target):
    config = CRNConfig(n_fft=n_fft, hop=hop, **SMALL)
    model = CRN(config, target)
    # Batch norm cannot train on a single value per channel (batch 1, frame 1, one position): eval there.
    for batch, training in ((3, True), (1, False)):
        out = model.train(training)(torch.randn(batch, frames, config.bins))
        assert out.shape == (batch, frames, config.bins)
        if target == "irm":
            assert out.min() >= 0 and out.max() <= 1
        else:
            assert out.min() >= 0  # softplus: a magnitude


def test_output_kind_follows_target():
    assert CRN(CRNConfig(**SMALL), "irm").output_kind == "mask"
    assert CRN(CRNConfig(**SMALL), "mapping").output_kind == "magnitude"
    assert CRN.TARGETS == ("mapping", "irm")


def test_paper_defaults_size():
    config = CRNConfig()
    assert (config.n_fft, config.hop, config.window, config.bins) == (320, 160, "hamming", 161)
    assert config.encoder_sizes == [161, 80, 39, 19, 9, 4]
    model = CRN(config, "mapping")
    # The paper reports 17.58 million trainable parameters.
    assert 17.5e6 < sum(p.numel() for p in model.parameters()) < 17.7e6
    assert [layer.conv.out_channels for layer in model.encoder] == [16, 32, 64, 128, 256]
    assert all(layer.conv.kernel_size == (2, 3) and layer.conv.stride == (1, 2) for layer in model.encoder)
    assert model.rnn.input_size == model.rnn.hidden_size == 1024 and model.rnn.num_layers == 2
    assert not model.rnn.bidirectional
    assert [layer.conv.in_channels for layer in model.decoder] == [512, 256, 128, 64, 32]
    assert [layer.conv.out_channels for layer in model.decoder] == [128, 64, 32, 16, 1]
    assert model.decoder[-1].norm is None
    assert model(torch.randn(1, 3, 161)).shape == (1, 3, 161)


def test_a_few_hundred_steps_overfit_a_tiny_batch():
    torch.manual_seed(0)
    model = CRN(CRNConfig(n_fft=128, hop=64, channels=(4, 8, 8)), "mapping")
    noisy, clean = torch.randn(2, 16, 65), torch.rand(2, 16, 65) * 2
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(200):
        loss = (model(noisy) - clean).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


@pytest.mark.parametrize("target", ["irm", "mapping"])
def test_changing_future_frames_leaves_past_outputs_alone(target):
    model = small_eval_model(target)
    features = torch.randn(2, 30, 161)
    with torch.no_grad():
        reference = model(features)
        for start in (1, 10, 29):
            changed = features.clone()
            changed[:, start:] = torch.randn_like(changed[:, start:]) * 3
            out = model(changed)
            torch.testing.assert_close(out[:, :start], reference[:, :start], rtol=0, atol=0)
            assert not torch.allclose(out[:, start], reference[:, start])


@pytest.mark.parametrize("target", ["irm", "mapping"])
@pytest.mark.parametrize("kernel_time", [2, 3])
def test_streaming_equals_offline(target, kernel_time):
    model = small_eval_model(target, kernel_time=kernel_time)
    features = torch.randn(2, 45, 161)
    with torch.no_grad():
        offline = model(features)
    stream = CRNStream(model)
    for _ in range(2):  # a reset must really forget the previous signal
        stream.reset(2)
        online = torch.stack([stream.step(features[:, t]) for t in range(features.shape[1])], dim=1)
        assert online.shape == offline.shape
        assert (online - offline).abs().max() < 1e-4


def test_stream_latency_and_mode(tmp_path):
    model = small_eval_model("irm")
    CRNStream(model)  # an eval-mode model streams
    # No look-ahead frame: the latency is one analysis window of the default STFT (less one sample).
    enhancer = Enhancer.from_checkpoint(write_checkpoint(tmp_path / "m.pt", arch="crn", config={}))
    assert StreamingEnhancer(enhancer, channels=1).latency_ms == pytest.approx(20.0, abs=0.07)
    with pytest.raises(ValueError, match="eval mode"):
        CRNStream(model.train())


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="model.crn.window"):
        CRNConfig(window="kaiser")
    with pytest.raises(ValueError, match="model.crn.hop"):
        CRNConfig(hop=0)
    with pytest.raises(ValueError, match="model.crn.channels"):
        CRNConfig(channels=())
    with pytest.raises(ValueError, match="model.crn.channels"):
        CRNConfig(channels=(16, 0))
    with pytest.raises(ValueError, match="model.crn.kernel_time"):
        CRNConfig(kernel_time=0)
    with pytest.raises(ValueError, match="model.crn.stride_freq"):
        CRNConfig(stride_freq=4)
    with pytest.raises(ValueError, match="model.crn.rnn_layers"):
        CRNConfig(rnn_layers=0)
    with pytest.raises(ValueError, match="model.crn.n_fft=64"):
        CRNConfig(n_fft=64, hop=32)
    with pytest.raises(ValueError, match="target must be one of"):
        CRN(CRNConfig(**SMALL), "ibm")


def test_params_yaml_section_builds_the_config():
    config = from_mapping(CRNConfig, {"channels": [4, 8, 8]})
    assert config.channels == (4, 8, 8)
    with pytest.raises(ValueError, match="unknown keys"):
        from_mapping(CRNConfig, {"chanels": 3})
