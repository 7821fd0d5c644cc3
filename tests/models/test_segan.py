import math

import pytest
import torch

from clearspeech.core.config import from_mapping
from clearspeech.models import parameter_count
from clearspeech.models.segan import (
    DISCRIMINATOR_NORMS,
    Discriminator,
    Generator,
    SEGANConfig,
    build_discriminators,
    deemphasis,
    enhance_waveform,
    make_optimizers,
    pair,
    preemphasis,
    train_step,
)

TINY = {"window": 1024, "channels": (8, 16, 16, 32), "kernel": 15}


def tiny(**overrides) -> SEGANConfig:
    return SEGANConfig(**{**TINY, **overrides})


def tone_batch(window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-emphasised (noisy, clean) windows ``(4, window)``: four tones, white noise added."""
    t = torch.arange(window) / 16000
    clean = torch.stack([0.5 * torch.sin(2 * math.pi * f * t) for f in (220, 330, 440, 550)])
    noisy = clean + 0.1 * torch.randn_like(clean)
    return preemphasis(noisy, 0.95), preemphasis(clean, 0.95)


def test_generator_paper_window_shape():
    torch.manual_seed(0)
    generator = Generator(SEGANConfig())
    with torch.no_grad():
        out = generator(torch.randn(1, 16384))
    assert out.shape == (1, 16384)
    assert out.abs().max() < 1  # tanh output


@pytest.mark.parametrize("latent", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("samples", [16, 1024, 2048])
def test_small_generator_shapes(latent, batch, samples):
    generator = Generator(tiny(latent=latent))
    assert generator(torch.randn(batch, samples)).shape == (batch, samples)


def test_generator_latent_is_drawn_unless_given():
    torch.manual_seed(0)
    generator, noisy = Generator(tiny(latent=True)), torch.randn(2, 1024)
    z = torch.randn(2, 32, 1024 // 16)
    assert torch.equal(generator(noisy, z), generator(noisy, z))
    assert not torch.allclose(generator(noisy), generator(noisy))
    deterministic = Generator(tiny())
    assert torch.equal(deterministic(noisy), deterministic(noisy))


def test_generator_rejects_lengths_off_the_grid():
    with pytest.raises(ValueError, match="multiple of 16"):
        Generator(tiny())(torch.randn(2, 1000))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        Generator(tiny())(torch.randn(1024))


@pytest.mark.parametrize("samples", [1, 100, 16384, 40000])
def test_enhance_waveform_is_transparent_with_an_identity_generator(samples):
    torch.manual_seed(0)
    noisy = torch.randn(2, samples)
    out = enhance_waveform(torch.nn.Identity(), noisy, SEGANConfig())
    assert out.shape == noisy.shape
    torch.testing.assert_close(out, noisy, rtol=0, atol=1e-5)


def test_enhance_waveform_feeds_the_generator_whole_windows():
    seen = []

    def stub(frames: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(frames.shape))
        return frames

    enhance_waveform(stub, torch.randn(3, 5000), tiny(), windows_per_pass=4)
    # ceil(5000 / 512) + 1 = 11 windows per signal, 33 in all, passed 4 at a time
    assert all(shape[1] == 1024 and shape[0] <= 4 for shape in seen)
    assert sum(shape[0] for shape in seen) == 33


@pytest.mark.parametrize("samples", [100, 16384, 40000])
def test_enhance_waveform_keeps_the_length_with_a_real_generator(samples):
    torch.manual_seed(0)
    out = enhance_waveform(Generator(tiny()).eval(), torch.randn(2, samples), tiny())
    assert out.shape == (2, samples) and torch.isfinite(out).all()


@pytest.mark.parametrize("norm", DISCRIMINATOR_NORMS)
@pytest.mark.parametrize("in_channels", [2, 1])
def test_discriminator_scores_one_per_item(norm, in_channels):
    discriminator = Discriminator(tiny(discriminator_norm=norm), in_channels=in_channels)
    assert discriminator(torch.randn(3, in_channels, 1024)).shape == (3,)
    with pytest.raises(ValueError, match="discriminator input must be"):
        discriminator(torch.randn(3, in_channels, 2048))


def test_discriminator_paper_window_shape():
    discriminator = Discriminator(SEGANConfig())
    with torch.no_grad():
        assert discriminator(pair(torch.randn(2, 16384), torch.randn(2, 16384))).shape == (2,)


@pytest.mark.parametrize("shape", [(1,), (7,), (2, 1000), (2, 3, 4097)])
def test_deemphasis_inverts_preemphasis(shape):
    torch.manual_seed(0)
    signal = torch.randn(shape, dtype=torch.float64)
    emphasised = preemphasis(signal, 0.95)
    assert emphasised.shape == signal.shape
    torch.testing.assert_close(deemphasis(emphasised, 0.95), signal, rtol=0, atol=1e-12)
    torch.testing.assert_close(preemphasis(deemphasis(signal, 0.95), 0.95), signal, rtol=0, atol=1e-12)
    as_float = signal.float()
    torch.testing.assert_close(deemphasis(preemphasis(as_float, 0.95), 0.95), as_float, rtol=0, atol=1e-5)


def test_deemphasis_is_the_one_pole_recursion():
    signal = torch.randn(3, 600, dtype=torch.float64)
    expected = signal.clone()
    for t in range(1, 600):
        expected[:, t] += 0.9 * expected[:, t - 1]
    torch.testing.assert_close(deemphasis(signal, 0.9, block=64), expected, rtol=0, atol=1e-12)


def test_paper_default_sizes():
    config = SEGANConfig()
    generator, (discriminator, noise_discriminator) = Generator(config), build_discriminators(config)
    assert noise_discriminator is None and config.window == 16384 and config.preemphasis == 0.95
    assert 56.84e6 < parameter_count(generator) < 56.85e6
    assert 73.09e6 < parameter_count(Generator(SEGANConfig(latent=True))) < 73.11e6
    assert 24.37e6 < parameter_count(discriminator) < 24.38e6
    assert len(generator.encoder) == len(generator.decoder) == 11
    assert all(conv.kernel_size == (31,) and conv.stride == (2,) for conv in [*generator.encoder, *generator.decoder])
    assert generator.encoder[-1].out_channels == 1024 and generator.decoder[0].in_channels == 1024
    assert generator.decoder[1].in_channels == 1024 and generator.decoder[-1].out_channels == 1
    assert discriminator.features[0].in_channels == 2 and discriminator.score.in_features == 16384 // 2048
    assert isinstance(discriminator.features[3 * 10 + 2], torch.nn.LeakyReLU)
    assert discriminator.features[2].negative_slope == 0.3


def test_a_hundred_steps_on_one_batch_shrink_the_l1_term():
    torch.manual_seed(0)
    config = tiny()  # the paper's RMSprop at 2e-4
    generator, (discriminator, _) = Generator(config), build_discriminators(config)
    opt_g, opt_d = make_optimizers(generator, discriminator, None, config)
    noisy, clean = tone_batch(config.window)
    history = [train_step(generator, discriminator, None, opt_g, opt_d, noisy, clean, config) for _ in range(100)]
    assert history[-1]["g_l1"] < history[0]["g_l1"] / 5
    assert all(math.isfinite(value) for stats in history for value in stats.values())


@pytest.mark.parametrize("latent", [False, True])
@pytest.mark.parametrize("noise_discriminator", [False, True])
def test_latent_and_noise_discriminator_variants_train(latent, noise_discriminator):
    torch.manual_seed(0)
    config = tiny(latent=latent, noise_discriminator=noise_discriminator, optimizer="adam")
    generator, (discriminator, noise_d) = Generator(config), build_discriminators(config)
    assert (noise_d is not None) == noise_discriminator
    opt_g, opt_d = make_optimizers(generator, discriminator, noise_d, config)
    d_before = [p.detach().clone() for p in discriminator.parameters()]
    noisy, clean = tone_batch(config.window)
    stats = [train_step(generator, discriminator, noise_d, opt_g, opt_d, noisy, clean, config) for _ in range(3)][-1]
    assert {"d_loss", "d_real", "d_fake", "g_loss", "g_adv", "g_l1"} <= set(stats)
    assert ({"nd_loss", "g_noise_adv"} <= set(stats)) == noise_discriminator
    assert all(math.isfinite(value) for value in stats.values())
    assert all(p.requires_grad for p in discriminator.parameters())  # unfrozen after G's step
    assert any(not torch.equal(a, b) for a, b in zip(d_before, discriminator.parameters()))


def test_train_step_rejects_mismatched_batches():
    config = tiny()
    generator, (discriminator, _) = Generator(config), build_discriminators(config)
    opt_g, opt_d = make_optimizers(generator, discriminator, None, config)
    with pytest.raises(ValueError, match=r"must both be \(batch, 1024\)"):
        train_step(generator, discriminator, None, opt_g, opt_d, torch.randn(2, 2048), torch.randn(2, 2048), config)


def test_config_from_a_params_mapping():
    config = from_mapping(SEGANConfig, {"channels": [8, 16], "window": 64, "latent": True})
    assert config.channels == (8, 16) and config.multiple == 4


@pytest.mark.parametrize(("overrides", "match"), [
    ({"window": 16000}, "window must be a positive multiple of 2 \\*\\* len\\(channels\\) = 2048"),
    ({"channels": ()}, "channels must be a non-empty"),
    ({"channels": (16, 0)}, "channels must be a non-empty"),
    ({"preemphasis": 1.0}, "preemphasis must be in"),
    ({"kernel": 30}, "kernel must be a positive odd"),
    ({"l1_weight": -1.0}, "l1_weight must be >= 0"),
    ({"discriminator_norm": "virtual_batch"}, "discriminator_norm must be one of"),
    ({"leaky_slope": 1.5}, "leaky_slope must be in"),
    ({"optimizer": "sgd"}, "optimizer must be one of"),
    ({"lr_generator": 0.0}, "lr_generator and lr_discriminator must be positive"),
    ({"latent": "yes"}, "latent: must be true or false"),
    ({"noise_discriminator": 1}, "noise_discriminator: must be true or false"),
    ({"sample_rate": 0}, "sample_rate must be positive"),
])
def test_bad_configs_are_rejected(overrides, match):
    with pytest.raises(ValueError, match=match):
        SEGANConfig(**overrides)


def test_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match="unknown keys"):
        from_mapping(SEGANConfig, {"virtual_batch_norm": True})


@pytest.mark.parametrize("clip", [None, 0.5])
def test_clip_grad_bounds_every_update(clip):
    torch.manual_seed(0)
    config = tiny()
    generator, (discriminator, _) = Generator(config), build_discriminators(config)
    opt_g, opt_d = make_optimizers(generator, discriminator, None, config)
    norms = []
    for optimizer in (opt_g, opt_d):
        step = optimizer.step

        def recorded(*args, _step=step, _optimizer=optimizer, **kwargs):
            grads = [p.grad for group in _optimizer.param_groups for p in group["params"] if p.grad is not None]
            norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
            return _step(*args, **kwargs)

        optimizer.step = recorded
    noisy, clean = tone_batch(config.window)
    train_step(generator, discriminator, None, opt_g, opt_d, noisy, clean, config, clip_grad=clip)
    assert len(norms) == 2
    if clip is None:
        assert max(norms) > 0.5  # unclipped, the first LSGAN + 100 x L1 gradients are large
    else:
        assert max(norms) <= clip * 1.0001
