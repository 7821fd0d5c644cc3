import math

import pytest
import torch
import torch.nn.functional as F

from clearspeech.core.config import from_mapping
from clearspeech.models import parameter_count
from clearspeech.models.autoencoder import (
    TARGETS,
    Autoencoder,
    AutoencoderConfig,
    check_target_loss,
    ideal_binary_mask,
    ideal_ratio_mask,
    training_loss,
)

SMALL = {"n_fft": 64, "hop": 16, "patch_frames": 16, "channels": (16, 32), "kernel_size": 3}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("frames", [1, 7, 50, 129])
@pytest.mark.parametrize("target", TARGETS)
def test_output_shape_matches_input_for_any_frame_count(batch, frames, target):
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(), target)
    out = model(torch.randn(batch, frames, 257))
    assert out.shape == (batch, frames, 257)
    if model.output_kind == "mask":
        assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("n_fft, channels", [(320, (8, 16, 16, 32)), (100, (8,)), (512, (4, 8, 8, 8, 8))])
def test_other_front_ends_and_depths_keep_the_shape(n_fft, channels):
    torch.manual_seed(0)
    config = AutoencoderConfig(n_fft=n_fft, hop=n_fft // 4, channels=channels, patch_frames=2 ** len(channels))
    model = Autoencoder(config, "mapping").eval()
    for frames in (1, 13):
        assert model(torch.randn(2, frames, config.bins)).shape == (2, frames, n_fft // 2 + 1)


def test_default_sizes():
    config = AutoencoderConfig()
    assert (config.n_fft, config.hop, config.window, config.bins) == (512, 128, "hann", 257)
    assert config.total_stride == 8 and config.patch_frames % config.total_stride == 0
    assert config.stft().bins == 257
    model = Autoencoder(config, "irm")
    assert 200_000 < parameter_count(model) < 250_000
    convs = [block[0] for block in model.encoder]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 32), (32, 64), (64, 128)]
    assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) for c in convs)
    deconvs = [block[0] for block in model.decoder]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(128, 64), (128, 32), (64, 32)]
    assert model.head.in_channels == 33 and model.head.out_channels == 1


def test_output_kind_per_target():
    assert Autoencoder.TARGETS == ("mapping", "ibm", "irm")
    kinds = {target: Autoencoder(AutoencoderConfig(**SMALL), target).output_kind for target in TARGETS}
    assert kinds == {"mapping": "log_magnitude", "ibm": "mask", "irm": "mask"}


def test_mapping_output_is_unbounded_and_masks_are_the_sigmoid_of_the_logits():
    torch.manual_seed(0)
    features = 5 * torch.randn(2, 9, 33)
    mask_model = Autoencoder(AutoencoderConfig(**SMALL), "irm").eval()
    torch.testing.assert_close(mask_model(features), torch.sigmoid(mask_model.logits(features)))
    mapping = Autoencoder(AutoencoderConfig(**SMALL), "mapping").eval()
    torch.testing.assert_close(mapping(features), mapping.logits(features))


def test_ideal_ratio_mask_exact_values():
    clean = torch.tensor([[3.0, 0.0, 1.0, 1.0, 0.0]])
    noise = torch.tensor([[4.0, 2.0, 0.0, 1.0, 0.0]])
    expected = torch.tensor([[0.6, 0.0, 1.0, math.sqrt(0.5), 0.0]])  # 0/0 (silence) -> 0
    torch.testing.assert_close(ideal_ratio_mask(clean, noise), expected)
    assert ideal_ratio_mask(torch.rand(2, 5, 7), torch.rand(2, 5, 7)).shape == (2, 5, 7)


@pytest.mark.parametrize("threshold_db", [0.0, 6.0, -5.0])
def test_ideal_binary_mask_respects_the_threshold_on_both_sides(threshold_db):
    ratio = 10 ** (threshold_db / 20)  # clean/noise amplitude ratio exactly at the threshold
    noise = torch.full((1, 4), 2.0)
    clean = noise * torch.tensor([[ratio * 1.01, ratio * 0.99, ratio * 2, ratio / 2]])
    expected = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    torch.testing.assert_close(ideal_binary_mask(clean, noise, threshold_db), expected)


def test_ideal_binary_mask_edges():
    clean = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    noise = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    # Exactly 0 dB is not above LC = 0 dB; no noise is infinite SNR; silence and no speech are 0.
    torch.testing.assert_close(ideal_binary_mask(clean, noise, 0.0), torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    assert ideal_binary_mask(clean, noise, 0.0).dtype == torch.float32


def test_masks_reject_bad_magnitudes():
    with pytest.raises(ValueError, match="differ in shape"):
        ideal_ratio_mask(torch.ones(2, 3), torch.ones(3, 2))
    with pytest.raises(ValueError, match="non-negative"):
        ideal_binary_mask(torch.tensor([-1.0]), torch.tensor([1.0]), 0.0)


def test_check_target_loss():
    for target in TARGETS:
        check_target_loss(target, "mse")
    check_target_loss("ibm", "bce")
    check_target_loss("irm", "bce")
    with pytest.raises(ValueError, match="needs a mask target"):
        check_target_loss("mapping", "bce")
    with pytest.raises(ValueError, match="loss must be one of"):
        check_target_loss("irm", "l1")
    with pytest.raises(ValueError, match="target must be one of"):
        check_target_loss("crm", "mse")
    with pytest.raises(ValueError, match="needs a mask target"):
        Autoencoder(AutoencoderConfig(**SMALL, loss="bce"), "mapping")


def test_training_loss_values_and_stability():
    torch.manual_seed(0)
    output, target = torch.randn(2, 5, 33), torch.rand(2, 5, 33)
    torch.testing.assert_close(training_loss(output, target, "mse"), (output - target).square().mean())
    expected = F.binary_cross_entropy(torch.sigmoid(output), target)
    torch.testing.assert_close(training_loss(output, target, "bce"), expected)
    # Confidently wrong logits: the logit form gives the exact loss (~100) and a live gradient.
    logits = torch.tensor([100.0, -100.0], requires_grad=True)
    loss = training_loss(logits, torch.tensor([0.0, 1.0]), "bce")
    loss.backward()
    assert loss.item() == pytest.approx(100.0)
    torch.testing.assert_close(logits.grad, torch.tensor([0.5, -0.5]))
    with pytest.raises(ValueError, match="loss must be one of"):
        training_loss(output, target, "l1")
    with pytest.raises(ValueError, match="differ in shape"):
        training_loss(output, target[:, :4], "mse")


def test_frame_weights_ignore_padding_frames():
    torch.manual_seed(0)
    output, target = torch.randn(2, 6, 33), torch.rand(2, 6, 33)
    weights = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    garbage = output.clone()
    garbage[weights == 0] = 1e6
    valid = torch.cat([output[0, :4], output[1, :2]]), torch.cat([target[0, :4], target[1, :2]])
    for loss in ("mse", "bce"):
        torch.testing.assert_close(training_loss(garbage, target, loss, weights), training_loss(*valid, loss))
    with pytest.raises(ValueError, match="must be \\(batch, frames\\)"):
        training_loss(output, target, "mse", weights[:, :5])


def test_model_loss_uses_logits_for_bce_and_the_output_for_mse():
    torch.manual_seed(0)
    features, mask = torch.randn(2, 8, 33), (torch.rand(2, 8, 33) > 0.5).float()
    bce = Autoencoder(AutoencoderConfig(**SMALL, loss="bce"), "ibm").eval()
    torch.testing.assert_close(bce.loss(features, mask), F.binary_cross_entropy_with_logits(bce.logits(features), mask))
    mse = Autoencoder(AutoencoderConfig(**SMALL), "irm").eval()
    torch.testing.assert_close(mse.loss(features, mask), F.mse_loss(mse(features), mask))


def _overfit(target: str, loss: str, goal: torch.Tensor, steps: int = 200) -> list[float]:
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(**SMALL, loss=loss), target)
    features = torch.randn(goal.shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        value = model.loss(features, goal)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        losses.append(value.item())
    return losses


@pytest.mark.parametrize("target, loss", [("mapping", "mse"), ("irm", "mse"), ("ibm", "mse"), ("ibm", "bce")])
def test_a_few_hundred_steps_overfit_a_tiny_batch(target, loss):
    torch.manual_seed(1)
    shape = (2, 16, 33)
    if target == "mapping":
        goal = torch.randn(shape)
    elif target == "irm":
        goal = ideal_ratio_mask(torch.rand(shape), torch.rand(shape))
    else:
        goal = ideal_binary_mask(torch.rand(shape), torch.rand(shape), 0.0)  # fixed binary target
    losses = _overfit(target, loss, goal)
    assert losses[-1] < losses[0] / 10


def test_bce_on_a_soft_ratio_mask_approaches_its_entropy():
    # With soft labels BCE bottoms out at the labels' entropy; its excess must fall below a tenth.
    torch.manual_seed(1)
    goal = ideal_ratio_mask(torch.rand(2, 16, 33), torch.rand(2, 16, 33)).clamp(1e-6, 1 - 1e-6)
    entropy = F.binary_cross_entropy(goal, goal).item()
    losses = _overfit("irm", "bce", goal)
    assert losses[-1] - entropy < (losses[0] - entropy) / 10


@pytest.mark.parametrize("changes, message", [
    ({"n_fft": 0}, "n_fft must be"),
    ({"hop": 0}, "hop must be"),
    ({"hop": 1024}, "hop must be"),
    ({"window": "kaiser"}, "window must be one of"),
    ({"channels": ()}, "channels must be"),
    ({"channels": (32, 0)}, "channels must be"),
    ({"channels": (32.0,)}, "channels: every value must be an integer"),
    ({"kernel_size": 4}, "kernel_size must be odd"),
    ({"kernel_size": 1}, "kernel_size must be odd"),
    ({"patch_frames": 12}, "patch_frames must be a positive multiple"),
    ({"patch_frames": 0}, "patch_frames must be a positive multiple"),
    ({"loss": "l1"}, "loss must be one of"),
    ({"ibm_threshold_db": float("nan")}, "ibm_threshold_db: must be a finite number"),
    ({"ibm_threshold_db": "0"}, "ibm_threshold_db: must be a finite number"),
])
def test_bad_configs_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        AutoencoderConfig(**changes)


def test_params_yaml_section_and_bad_inputs():
    config = from_mapping(AutoencoderConfig, {"channels": [8, 16], "patch_frames": 8})
    assert config.channels == (8, 16)
    with pytest.raises(ValueError, match="unknown keys"):
        from_mapping(AutoencoderConfig, {"chanels": [8]})
    with pytest.raises(ValueError, match="target must be one of"):
        Autoencoder(AutoencoderConfig(**SMALL), "crm")
    with pytest.raises(ValueError, match=r"features must be \(batch, frames, 33\)"):
        Autoencoder(AutoencoderConfig(**SMALL), "irm")(torch.randn(2, 8, 257))
