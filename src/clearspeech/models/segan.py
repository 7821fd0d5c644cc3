"""SEGAN: Pascual, Bonafonte & Serrà, "SEGAN: Speech Enhancement Generative Adversarial Network",
Interspeech 2017 (arXiv 1703.09452).

A waveform model, unlike the spectral architectures: the generator maps a pre-emphasised noisy
waveform chunk of ``window`` samples (16384 at 16 kHz, about one second) to the pre-emphasised
clean chunk. The paper's design:

- Generator: a fully convolutional encoder-decoder. The encoder has 11 strided 1-D convolutions
  (kernel 31, stride 2, PReLU) with 16, 32, 32, 64, 64, 128, 128, 256, 256, 512, 1024 channels,
  halving the length each time (16384 samples -> 8 x 1024 at the bottleneck). The decoder mirrors
  it with stride-2 transposed convolutions (PReLU), each fed the previous decoder output
  concatenated with the mirrored encoder output (skip connections); the last layer has one
  channel and a tanh.
- Discriminator: the encoder's convolution plan on two stacked channels (candidate, noisy),
  normalisation and LeakyReLU(0.3), then a 1x1 convolution to one channel and a linear layer to
  one score.
- Least-squares GAN with an L1 term: D minimises ½(D(clean, noisy) - 1)² + ½D(G(noisy), noisy)²;
  G minimises ½(D(G(noisy), noisy) - 1)² + λ|G(noisy) - clean|₁ with λ = 100. RMSprop, learning
  rate 2e-4 for both. Pre-emphasis 0.95 on all inputs, de-emphasis of the output.

Departures, deliberately:

- The latent z concatenated at the bottleneck is optional and off by default (``latent``):
  conditional generators anchored by a reconstruction loss tend to ignore it (Isola et al. 2017),
  and without it enhancement is deterministic. When on, z ~ N(0, I) of the bottleneck's shape.
- No virtual batch norm: the discriminator uses ``discriminator_norm`` ("batch" by default, or
  "instance", "spectral", "none"). With batch norm, real and fake pairs go through the
  discriminator as ONE batch, so both are normalised with the same statistics (the role of VBN's
  fixed reference batch) and the batch statistics cannot tell the halves apart.
- The L1 term is the mean absolute error over samples rather than the sum, so λ = 100 weighs it
  against the adversarial terms independently of the window length.
- PReLU slopes are per channel; weights use PyTorch's default initialisation.
- Enhancement of long signals overlaps windows by 50% and overlap-adds them with a periodic Hann
  window (copies sum to one) instead of concatenating non-overlapping chunks, which avoids
  discontinuities at chunk seams.
- Optional noise discriminator (``noise_discriminator``, an extension after Lim, Kim & Cho 2019,
  not part of SEGAN): a second discriminator of the same plan judges the removed component,
  (noisy - clean) as real against (noisy - enhanced) as fake. It sees that one channel only:
  stacking the noisy input as well would let it recover the speech estimate by subtraction and
  duplicate the main discriminator. It adds its own least-squares loss to D's and
  ½(D_n(noisy - G(noisy)) - 1)² to G's.
- ``optimizer="adam"`` (betas 0.5, 0.999, the DCGAN setting) is offered as an alternative to the
  paper's RMSprop; the default is RMSprop.

Shapes: waveforms are ``(batch, samples)``; the generator needs ``samples`` to be a multiple of
``2 ** len(channels)`` (2048 by default) and the discriminators take exactly ``window`` samples
(their final linear layer reads ``window / 2 ** len(channels)`` positions).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from clearspeech.core.architecture import ADVERSARIAL, WAVEFORM, Architecture
from clearspeech.core.config import validate

DISCRIMINATOR_NORMS = ("batch", "instance", "spectral", "none")
OPTIMIZERS = ("rmsprop", "adam")


@dataclasses.dataclass(frozen=True)
class SEGANConfig:
    """The ``model.segan`` section of ``params.yaml``; defaults are the paper's."""

    sample_rate: int = 16000
    window: int = 16384
    preemphasis: float = 0.95
    channels: tuple[int, ...] = (16, 32, 32, 64, 64, 128, 128, 256, 256, 512, 1024)
    kernel: int = 31
    latent: bool = False
    l1_weight: float = 100.0
    discriminator_norm: str = "batch"
    leaky_slope: float = 0.3
    noise_discriminator: bool = False
    optimizer: str = "rmsprop"
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        validate(self, "model.segan")  # types; the ranges below
        if self.sample_rate <= 0:
            raise ValueError(f"model.segan.sample_rate must be positive, got {self.sample_rate}")
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ValueError(f"model.segan.channels must be a non-empty list of positive ints, got {self.channels}")
        if self.window <= 0 or self.window % self.multiple:
            raise ValueError(f"model.segan.window must be a positive multiple of 2 ** len(channels) = "
                             f"{self.multiple}, got {self.window}")
        if not 0.0 <= self.preemphasis < 1.0:
            raise ValueError(f"model.segan.preemphasis must be in [0, 1), got {self.preemphasis}")
        if self.kernel <= 0 or self.kernel % 2 != 1:
            raise ValueError(f"model.segan.kernel must be a positive odd number (length halves exactly), "
                             f"got {self.kernel}")
        if self.l1_weight < 0:
            raise ValueError(f"model.segan.l1_weight must be >= 0, got {self.l1_weight}")
        if self.discriminator_norm not in DISCRIMINATOR_NORMS:
            raise ValueError(f"model.segan.discriminator_norm must be one of {DISCRIMINATOR_NORMS}, "
                             f"not {self.discriminator_norm!r}")
        if not 0.0 <= self.leaky_slope < 1.0:
            raise ValueError(f"model.segan.leaky_slope must be in [0, 1), got {self.leaky_slope}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"model.segan.optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.lr_generator <= 0 or self.lr_discriminator <= 0:
            raise ValueError(f"model.segan.lr_generator and lr_discriminator must be positive, "
                             f"got {self.lr_generator}, {self.lr_discriminator}")
        for name in ("latent", "noise_discriminator"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"model.segan.{name} must be true or false, got {getattr(self, name)!r}")

    @property
    def multiple(self) -> int:
        """Sample counts the generator accepts are multiples of this (each encoder layer halves)."""
        return 2 ** len(self.channels)


# ----------------------------------------------------------------------------- pre-/de-emphasis

def preemphasis(signal: torch.Tensor, coef: float) -> torch.Tensor:
    """``y[t] = x[t] - coef * x[t - 1]`` with ``y[0] = x[0]``. ``(..., samples)`` -> ``(..., samples)``."""
    if signal.shape[-1] == 0:
        return signal.clone()
    return torch.cat([signal[..., :1], signal[..., 1:] - coef * signal[..., :-1]], dim=-1)


def deemphasis(signal: torch.Tensor, coef: float, block: int = 256) -> torch.Tensor:
    """Exact inverse of :func:`preemphasis`: ``y[t] = x[t] + coef * y[t - 1]``. ``(..., samples)`` -> same.

    The recursion runs block-wise: within a block it is a matrix product with the lower-triangular
    impulse response, and only the last output of each block is carried on in Python, so long
    signals cost ``samples / block`` small steps rather than one per sample.
    """
    samples = signal.shape[-1]
    if samples == 0 or coef == 0.0:
        return signal.clone()
    block = min(block, samples)
    rows = signal.reshape(-1, samples)
    padded = F.pad(rows, (0, (-samples) % block)).reshape(rows.shape[0], -1, block)
    lag = torch.arange(block, device=signal.device)
    lag = lag[:, None] - lag[None, :]
    response = torch.where(lag >= 0, coef ** lag.clamp(min=0).to(signal.dtype), 0.0)
    local = padded @ response.T  # each block's output from a zero initial state
    carry_gain = coef ** torch.arange(1, block + 1, device=signal.device, dtype=signal.dtype)
    carry = torch.zeros(rows.shape[0], 1, dtype=signal.dtype, device=signal.device)
    blocks = []
    for index in range(local.shape[1]):
        blocks.append(local[:, index] + carry * carry_gain)
        carry = blocks[-1][:, -1:]
    return torch.cat(blocks, dim=-1)[:, :samples].reshape(signal.shape)


# ----------------------------------------------------------------------------- networks

class Generator(nn.Module):
    """Pre-emphasised noisy ``(batch, samples)`` -> pre-emphasised enhanced ``(batch, samples)`` in (-1, 1).

    ``samples`` must be a multiple of ``config.multiple``. With ``config.latent``, ``z`` of shape
    ``(batch, channels[-1], samples / config.multiple)`` may be given; it is drawn from N(0, I) otherwise.
    """

    def __init__(self, config: SEGANConfig) -> None:
        super().__init__()
        self.config = config
        channels, kernel = config.channels, config.kernel
        self.encoder = nn.ModuleList(
            nn.Conv1d(c_in, c_out, kernel, stride=2, padding=kernel // 2)
            for c_in, c_out in zip((1, *channels[:-1]), channels)
        )
        self.encoder_act = nn.ModuleList(nn.PReLU(c) for c in channels)
        mirrored = channels[-2::-1]
        # After the first layer each decoder input is its predecessor's output plus an equal-width skip.
        dec_in = (channels[-1] * (2 if config.latent else 1), *(2 * c for c in mirrored))
        dec_out = (*mirrored, 1)
        self.decoder = nn.ModuleList(
            nn.ConvTranspose1d(c_in, c_out, kernel, stride=2, padding=kernel // 2, output_padding=1)
            for c_in, c_out in zip(dec_in, dec_out)
        )
        self.decoder_act = nn.ModuleList(nn.PReLU(c) for c in mirrored)

    def forward(self, noisy: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if noisy.dim() != 2 or noisy.shape[-1] % self.config.multiple:
            raise ValueError(f"generator input must be (batch, samples) with samples a multiple of "
                             f"{self.config.multiple}, got {tuple(noisy.shape)}")
        hidden, skips = noisy.unsqueeze(1), []
        for conv, act in zip(self.encoder, self.encoder_act):
            hidden = act(conv(hidden))
            skips.append(hidden)
        skips.pop()  # the bottleneck feeds the decoder directly
        if self.config.latent:
            hidden = torch.cat([hidden, torch.randn_like(hidden) if z is None else z], dim=1)
        for index, deconv in enumerate(self.decoder):
            if index:
                hidden = torch.cat([hidden, skips.pop()], dim=1)
            hidden = deconv(hidden)
            hidden = self.decoder_act[index](hidden) if index < len(self.decoder_act) else torch.tanh(hidden)
        return hidden.squeeze(1)

    def enhance(self, noisy: torch.Tensor) -> torch.Tensor:
        """Whole signals, noisy ``(batch, samples)`` -> enhanced ``(batch, samples)``, any length
        (the waveform front end's contract; :func:`enhance_waveform`)."""
        return enhance_waveform(self, noisy, self.config)


def _norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "instance":
        return nn.InstanceNorm1d(channels, affine=True)
    return nn.Identity()


class Discriminator(nn.Module):
    """Least-squares critic: ``(batch, in_channels, window)`` -> one unbounded score per item ``(batch,)``.

    The SEGAN discriminator takes ``in_channels=2`` (candidate, noisy) as built by :func:`pair`;
    the noise discriminator takes the one-channel noise estimate.
    """

    def __init__(self, config: SEGANConfig, in_channels: int = 2) -> None:
        super().__init__()
        self.config, self.in_channels = config, in_channels
        norm, kernel = config.discriminator_norm, config.kernel
        layers: list[nn.Module] = []
        for c_in, c_out in zip((in_channels, *config.channels[:-1]), config.channels):
            conv = nn.Conv1d(c_in, c_out, kernel, stride=2, padding=kernel // 2)
            if norm == "spectral":
                conv = nn.utils.parametrizations.spectral_norm(conv)
            layers += [conv, _norm_layer(norm, c_out), nn.LeakyReLU(config.leaky_slope)]
        self.features = nn.Sequential(*layers)
        self.squeeze = nn.Conv1d(config.channels[-1], 1, 1)
        self.score = nn.Linear(config.window // config.multiple, 1)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        if pair.dim() != 3 or pair.shape[1:] != (self.in_channels, self.config.window):
            raise ValueError(f"discriminator input must be (batch, {self.in_channels}, {self.config.window}), "
                             f"got {tuple(pair.shape)}")
        return self.score(self.squeeze(self.features(pair)).squeeze(1)).squeeze(-1)


def pair(candidate: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Stack a candidate and its noisy input, ``(batch, samples)`` each -> ``(batch, 2, samples)``."""
    return torch.stack([candidate, noisy], dim=1)


def build_discriminators(config: SEGANConfig) -> tuple[Discriminator, Discriminator | None]:
    """The (candidate, noisy) discriminator and, if ``config.noise_discriminator``, the noise one."""
    return Discriminator(config), Discriminator(config, in_channels=1) if config.noise_discriminator else None


def make_optimizers(
    generator: nn.Module, discriminator: nn.Module, noise_discriminator: nn.Module | None, config: SEGANConfig,
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """G's optimiser and one optimiser over both discriminators (they step together)."""
    d_params = list(discriminator.parameters())
    if noise_discriminator is not None:
        d_params += list(noise_discriminator.parameters())
    if config.optimizer == "adam":
        return (torch.optim.Adam(generator.parameters(), config.lr_generator, betas=(0.5, 0.999)),
                torch.optim.Adam(d_params, config.lr_discriminator, betas=(0.5, 0.999)))
    return (torch.optim.RMSprop(generator.parameters(), config.lr_generator),
            torch.optim.RMSprop(d_params, config.lr_discriminator))


# ----------------------------------------------------------------------------- losses and training

def discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN critic loss ½ mean (real - 1)² + ½ mean fake², scores ``(batch,)`` each."""
    return 0.5 * (real - 1).square().mean() + 0.5 * fake.square().mean()


def generator_adversarial_loss(fake: torch.Tensor) -> torch.Tensor:
    """LSGAN generator loss ½ mean (fake - 1)², scores ``(batch,)``."""
    return 0.5 * (fake - 1).square().mean()


def _judge(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # One batch, so batch norm normalises real and fake with shared statistics.
    scores = discriminator(torch.cat([real, fake]))
    return scores[: len(real)], scores[len(real):]


@contextlib.contextmanager
def _frozen(*modules: nn.Module | None) -> Iterator[None]:
    # G's step needs gradients through the discriminators, not into their weights.
    params = [p for m in modules if m is not None for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _clip(optimizer: torch.optim.Optimizer, max_norm: float | None) -> None:
    """Clip the gradient norm of everything ``optimizer`` updates. Early LSGAN steps can throw the
    generator into tanh saturation (L1 stuck at 1.0, measured on ARCTIC mixtures at 2e-4), from
    which its gradients never recover; a bounded step prevents that."""
    if max_norm:
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, max_norm)


def train_step(
    generator: Generator,
    discriminator: Discriminator,
    noise_discriminator: Discriminator | None,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    noisy: torch.Tensor,
    clean: torch.Tensor,
    config: SEGANConfig,
    clip_grad: float | None = None,
) -> dict[str, float]:
    """One discriminator update then one generator update on pre-emphasised windows ``(batch, window)``.

    ``opt_d`` covers both discriminators (see :func:`make_optimizers`); ``clip_grad`` bounds each
    update's gradient norm (None: unbounded, as in the paper). Returns the losses as floats:
    ``d_loss``, ``d_real``/``d_fake`` (mean scores), ``g_loss``, ``g_adv``, ``g_l1`` (unweighted mean
    absolute error), and with the noise discriminator ``nd_loss`` and ``g_noise_adv``.
    """
    if noisy.shape != clean.shape or noisy.dim() != 2 or noisy.shape[-1] != config.window:
        raise ValueError(f"noisy and clean must both be (batch, {config.window}), "
                         f"got {tuple(noisy.shape)} and {tuple(clean.shape)}")
    enhanced = generator(noisy)
    real_pair, fake_pair = pair(clean, noisy), pair(enhanced, noisy)
    real_noise, fake_noise = (noisy - clean).unsqueeze(1), (noisy - enhanced).unsqueeze(1)

    real, fake = _judge(discriminator, real_pair, fake_pair.detach())
    d_loss = discriminator_loss(real, fake)
    stats = {"d_loss": d_loss.item(), "d_real": real.mean().item(), "d_fake": fake.mean().item()}
    if noise_discriminator is not None:
        nd_loss = discriminator_loss(*_judge(noise_discriminator, real_noise, fake_noise.detach()))
        stats["nd_loss"] = nd_loss.item()
        d_loss = d_loss + nd_loss
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    _clip(opt_d, clip_grad)
    opt_d.step()

    with _frozen(discriminator, noise_discriminator):
        adversarial = generator_adversarial_loss(_judge(discriminator, real_pair, fake_pair)[1])
        l1 = (enhanced - clean).abs().mean()
        g_loss = adversarial + config.l1_weight * l1
        if noise_discriminator is not None:
            noise_adversarial = generator_adversarial_loss(_judge(noise_discriminator, real_noise, fake_noise)[1])
            stats["g_noise_adv"] = noise_adversarial.item()
            g_loss = g_loss + noise_adversarial
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
    _clip(opt_g, clip_grad)
    opt_g.step()
    return {**stats, "g_loss": g_loss.item(), "g_adv": adversarial.item(), "g_l1": l1.item()}


# ----------------------------------------------------------------------------- enhancement

def _overlap_windows(samples: int, window: int) -> tuple[int, int]:
    """Window count and padded length so that every real sample lies under exactly two windows."""
    hop = window // 2
    count = math.ceil(samples / hop) + 1
    return count, (count + 1) * hop


@torch.no_grad()
def enhance_waveform(
    generator: Callable[[torch.Tensor], torch.Tensor],
    noisy: torch.Tensor,
    config: SEGANConfig,
    windows_per_pass: int = 32,
) -> torch.Tensor:
    """Enhance whole signals: noisy ``(batch, samples)`` -> enhanced ``(batch, samples)``, any ``samples``.

    Pre-emphasis, windows of ``config.window`` at 50% overlap (half a window of zeros in front and
    zeros at the end, so every sample is covered twice), the generator on ``windows_per_pass``
    windows at a time, periodic-Hann overlap-add (the two copies' weights sum to one), de-emphasis,
    cropped back to the input length. With an identity generator the output equals the input.
    Runs without gradients; a latent generator draws a fresh z per window.
    """
    if noisy.dim() != 2:
        raise ValueError(f"noisy must be (batch, samples), got {tuple(noisy.shape)}")
    batch, samples = noisy.shape
    window, hop = config.window, config.window // 2
    count, padded_length = _overlap_windows(samples, window)
    emphasised = preemphasis(noisy, config.preemphasis)
    padded = F.pad(emphasised, (hop, padded_length - hop - samples))
    frames = padded.unfold(-1, window, hop).reshape(batch * count, window)
    enhanced = torch.cat([generator(part) for part in frames.split(windows_per_pass)])
    taper = torch.hann_window(window, periodic=True, dtype=enhanced.dtype, device=enhanced.device)
    weighted = (enhanced * taper).reshape(batch, count, window).transpose(1, 2)
    summed = F.fold(weighted, output_size=(1, padded_length), kernel_size=(1, window), stride=(1, hop))
    return deemphasis(summed.reshape(batch, padded_length)[:, hop:hop + samples], config.preemphasis)


# What the pipeline knows about this architecture (the contract: clearspeech.core.architecture).
ARCHITECTURE = Architecture(
    name="segan", config=SEGANConfig, model=Generator, front_end=WAVEFORM,
    targets={"waveform": "waveform"},
    task=ADVERSARIAL, stream=None, onnx=False,
)
