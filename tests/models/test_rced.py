import pytest
import torch
from torch import nn

from clearspeech.core.config import from_mapping
from clearspeech.inference.enhancer import Enhancer
from clearspeech.inference.streaming import StreamingEnhancer
from clearspeech.models.rced import RCED, RCEDConfig, RCEDStream

from conftest import write_checkpoint

SMALL = {"filters": (6, 10, 4), "kernels": (5, 3, 5), "repeats": 5, "out_kernel": 33}


def small_eval_model(target: str, seed: int = 0, **overrides) -> RCED:
    """A small R-CED in eval mode with non-trivial batch-norm statistics (identity stats hide bugs)."""
    torch.manual_seed(seed)
    model = RCED(RCEDConfig(**{**SMALL, **overrides}), target).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize("n_fft, hop", [(256, 64), (512, 128), (64, 32)])
@pytest.mark.parametrize("frames", [1, 2, 7, 9, 50])
@pytest.mark.parametrize("target", ["irm", "mapping"])
def test_output_shape_matches_input(n_fft, hop, frames, target):
    config = RCEDConfig(n_fft=n_fft, hop=hop, **SMALL)
    model = RCED(config, target)
    # Batch norm cannot train on a single value per channel, hence eval for batch 1 with 1 frame.
    for batch, training in ((3, True), (1, False)):
        out = model.train(training)(torch.randn(batch, frames, config.bins))
        assert out.shape == (batch, frames, config.bins)
        if target == "irm":
            assert out.min() >= 0 and out.max() <= 1


def test_output_kind_follows_target():
    assert RCED(RCEDConfig(**SMALL), "irm").output_kind == "mask"
    assert RCED(RCEDConfig(**SMALL), "mapping").output_kind == "log_magnitude"
    assert RCED.TARGETS == ("mapping", "irm")


def test_paper_defaults_size():
    config = RCEDConfig()
    assert (config.n_fft, config.hop, config.window, config.context, config.bins) == (256, 64, "hamming", 8, 129)
    model = RCED(config, "mapping")
    # Daitan's CR-CED: "33K parameters" (32,373 here: the same layers, PyTorch counts BN's affine only).
    assert 30_000 < sum(p.numel() for p in model.parameters()) < 35_000
    assert len(model.layers) == 15
    assert [layer.conv.out_channels for layer in model.layers] == [18, 30, 8] * 5
    assert [layer.conv.kernel_size[0] for layer in model.layers] == [9, 5, 9] * 5
    assert model.layers[0].conv.in_channels == 8  # the 8 frames are the first layer's channels
    assert all(layer.conv.bias is None for layer in model.layers)
    assert model.out.in_channels == 8 and model.out.out_channels == 1 and model.out.kernel_size == (129,)
    # Mirrored skips between the 30-filter layers: block 1 -> block 5, block 2 -> block 4.
    assert model.skip_from == {1: 0, 4: 1} and model.skip_to == {13: 0, 10: 1}
    assert model(torch.randn(2, 3, 129)).shape == (2, 3, 129)


def test_windows_are_the_last_context_frames_padded_with_the_first():
    model = RCED(RCEDConfig(**SMALL), "mapping")
    features = torch.randn(2, 12, 129)
    windows = model.windows(features)
    assert windows.shape == (2, 12, 8, 129)
    for t in range(12):
        expected = torch.stack([features[:, max(t - 7 + j, 0)] for j in range(8)], dim=1)
        torch.testing.assert_close(windows[:, t], expected, rtol=0, atol=0)


def test_a_few_hundred_steps_overfit_a_tiny_batch():
    torch.manual_seed(0)
    config = RCEDConfig(n_fft=64, hop=32, context=4, filters=(8, 12, 8), kernels=(5, 3, 5), repeats=2,
                        out_kernel=9, dropout=0.0)
    model = RCED(config, "mapping")
    noisy, clean = torch.randn(2, 16, 33), torch.randn(2, 16, 33)
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
    features = torch.randn(2, 30, 129)
    with torch.no_grad():
        reference = model(features)
        for start in (1, 10, 29):
            changed = features.clone()
            changed[:, start:] = torch.randn_like(changed[:, start:]) * 3
            out = model(changed)
            torch.testing.assert_close(out[:, :start], reference[:, :start], rtol=0, atol=0)
            assert not torch.allclose(out[:, start], reference[:, start])


def test_context_is_exactly_eight_frames():
    model = small_eval_model("mapping")
    features = torch.randn(1, 30, 129)
    with torch.no_grad():
        reference = model(features)
        changed = features.clone()
        changed[:, 10] += 5.0
        moved = (model(changed) - reference).abs().amax(dim=2)[0] > 0
    assert moved.nonzero().flatten().tolist() == list(range(10, 18))


@pytest.mark.parametrize("target", ["irm", "mapping"])
@pytest.mark.parametrize("context", [8, 1])
def test_streaming_equals_offline(target, context):
    model = small_eval_model(target, context=context)
    features = torch.randn(2, 45, 129)
    with torch.no_grad():
        offline = model(features)
    stream = RCEDStream(model)
    for _ in range(2):  # a reset must really forget the previous signal
        stream.reset(2)
        online = torch.stack([stream.step(features[:, t]) for t in range(features.shape[1])], dim=1)
        assert online.shape == offline.shape
        assert (online - offline).abs().max() < 1e-4


def test_stream_latency_and_mode(tmp_path):
    model = small_eval_model("irm")
    stream = RCEDStream(model)
    # No look-ahead frame: the latency is one analysis window of the default STFT (less one sample).
    enhancer = Enhancer.from_checkpoint(write_checkpoint(tmp_path / "m.pt", arch="rced", config={}))
    assert StreamingEnhancer(enhancer, channels=1).latency_ms == pytest.approx(16.0, abs=0.07)
    stream.reset(2)
    with pytest.raises(ValueError, match="batch 2"):
        stream.step(torch.randn(3, 129))
    with pytest.raises(ValueError, match="eval mode"):
        RCEDStream(model.train())


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="model.rced.window"):
        RCEDConfig(window="kaiser")
    with pytest.raises(ValueError, match="model.rced.hop"):
        RCEDConfig(hop=300)
    with pytest.raises(ValueError, match="model.rced.context"):
        RCEDConfig(context=0)
    with pytest.raises(ValueError, match="model.rced.filters"):
        RCEDConfig(filters=(), kernels=())
    with pytest.raises(ValueError, match="model.rced.kernels needs one width"):
        RCEDConfig(kernels=(9, 5))
    with pytest.raises(ValueError, match="model.rced.kernels must be odd"):
        RCEDConfig(kernels=(9, 4, 9))
    with pytest.raises(ValueError, match="model.rced.out_kernel"):
        RCEDConfig(out_kernel=128)
    with pytest.raises(ValueError, match="model.rced.repeats"):
        RCEDConfig(repeats=0)
    with pytest.raises(ValueError, match="model.rced.dropout"):
        RCEDConfig(dropout=1.0)
    with pytest.raises(ValueError, match="target must be one of"):
        RCED(RCEDConfig(), "ibm")


def test_params_yaml_section_builds_the_config():
    config = from_mapping(RCEDConfig, {"filters": [6, 10], "kernels": [5, 3]})
    assert config.filters == (6, 10)
    with pytest.raises(ValueError, match="unknown keys"):
        from_mapping(RCEDConfig, {"chanels": 3})
