"""Convolutional denoising autoencoder on spectrogram patches: spectral mapping versus masking.

The design follows the NOIZEUS comparison of training targets for a convolutional denoising
autoencoder: the same encoder-decoder, fed patches of the noisy spectrogram, is trained either
for spectral mapping (regress the clean spectrum, MSE) or to estimate a time-frequency mask,
the ideal binary mask (IBM) or the ideal ratio mask (IRM), with MSE or binary cross-entropy.

Architecture (all sizes are config fields):

- Encoder: ``len(channels)`` convolutions over (frames, bins), each ``kernel_size`` square with
  stride 2 along both axes, batch norm and ReLU. The total stride is ``2 ** len(channels)``.
- Decoder: the mirror image, transposed convolutions (stride 2, batch norm, ReLU), each output
  concatenated with the encoder map of the same resolution (U-Net style skips); the last skip is
  the input itself, so the head sees the full-resolution noisy spectrum.
- Head: one ``kernel_size`` convolution to a single map: linear for ``mapping``
  (``output_kind == "log_magnitude"``), sigmoid for ``ibm``/``irm`` (``output_kind == "mask"``).

Shapes: features ``(batch, frames, bins)`` -> output ``(batch, frames, bins)``, with
``bins = n_fft // 2 + 1``. The network is fully convolutional, so training uses patches of
``patch_frames`` frames while inference takes any number of frames >= 1: frames and bins are
zero-padded at the end up to a multiple of the total stride and the output is cropped back.

Departures and choices, deliberately:

- Front end: the study's STFT settings could not be confirmed, so the defaults are this project's
  512-point periodic Hann window with hop 128 at 16 kHz (257 bins, 32 ms / 8 ms). The input is the
  per-bin standardised noisy log-magnitude, not the study's raw spectrogram patches.
- ``mapping`` regresses the standardised clean log-magnitude; masks multiply the noisy magnitude.
  Either way the waveform is the iSTFT with the noisy phase.
- The IBM local criterion defaults to LC = 0 dB (a unit is 1 when its clean-to-noise energy ratio
  strictly exceeds LC); the IRM is the square root of clean over clean-plus-noise power.
- BCE is computed on the head's logits (:meth:`Autoencoder.logits`) with the log-sum-exp form
  (``binary_cross_entropy_with_logits``): BCE on a saturated float32 sigmoid loses its gradient.
  ``forward`` always returns the mask in [0, 1]; :meth:`Autoencoder.loss` picks the right output.
- Zero padding is the per-bin mean of the standardised input; in training mode it also enters the
  batch-norm statistics, which is negligible for patches that are already a multiple of the stride
  (``patch_frames`` must be one).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from clearspeech.core.architecture import OWN_LOSS, OWN_STFT, Architecture
from clearspeech.core.config import validate
from clearspeech.core.stft import WINDOWS, StftParams

TARGETS = ("mapping", "ibm", "irm")
LOSSES = ("mse", "bce")
MASK_TARGETS = ("ibm", "irm")


def check_target_loss(target: str, loss: str) -> None:
    """Raise ``ValueError`` unless ``target`` and ``loss`` are known and compatible.

    BCE needs targets in [0, 1], so it only goes with the mask targets.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    if loss not in LOSSES:
        raise ValueError(f"model.autoencoder.loss must be one of {LOSSES}, not {loss!r}")
    if loss == "bce" and target not in MASK_TARGETS:
        raise ValueError(f"model.autoencoder.loss='bce' needs a mask target {MASK_TARGETS}, not {target!r}")


@dataclasses.dataclass(frozen=True)
class AutoencoderConfig:
    """The ``model.autoencoder`` section of ``params.yaml``."""

    n_fft: int = 512
    hop: int = 128
    window: str = "hann"
    patch_frames: int = 32
    channels: tuple[int, ...] = (32, 64, 128)
    kernel_size: int = 3
    loss: str = "mse"
    ibm_threshold_db: float = 0.0

    def __post_init__(self) -> None:
        # Accept a list from Python callers too; a frozen config must stay hashable.
        object.__setattr__(self, "channels", tuple(self.channels))
        validate(self, "model.autoencoder")  # types; the sizes below
        _check_front_end(self.n_fft, self.hop, self.window)
        if not self.channels or not all(_is_positive_int(c) for c in self.channels):
            raise ValueError(f"model.autoencoder.channels must be a non-empty tuple of positive ints, "
                             f"got {self.channels}")
        if not _is_positive_int(self.kernel_size) or self.kernel_size < 3 or self.kernel_size % 2 != 1:
            # Odd kernels with padding k // 2 halve an even length exactly; k = 1 would skip inputs.
            raise ValueError(f"model.autoencoder.kernel_size must be odd and >= 3, got {self.kernel_size}")
        if not _is_positive_int(self.patch_frames) or self.patch_frames % self.total_stride != 0:
            raise ValueError(f"model.autoencoder.patch_frames must be a positive multiple of the total stride "
                             f"{self.total_stride}, got {self.patch_frames}")
        if self.loss not in LOSSES:
            raise ValueError(f"model.autoencoder.loss must be one of {LOSSES}, not {self.loss!r}")
        if isinstance(self.ibm_threshold_db, bool) or not isinstance(self.ibm_threshold_db, (int, float)) \
                or not math.isfinite(self.ibm_threshold_db):
            raise ValueError(f"model.autoencoder.ibm_threshold_db must be a finite number, "
                             f"got {self.ibm_threshold_db!r}")

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def total_stride(self) -> int:
        """Downsampling factor of the encoder along frames and along bins."""
        return 2 ** len(self.channels)

    def stft(self, sample_rate: int = 16000) -> StftParams:
        """The STFT front end these features come from."""
        return StftParams(self.n_fft, self.hop, self.window, sample_rate)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_front_end(n_fft: int, hop: int, window: str) -> None:
    if not _is_positive_int(n_fft) or n_fft < 2:
        raise ValueError(f"model.autoencoder.n_fft must be an int >= 2, got {n_fft!r}")
    if not _is_positive_int(hop) or hop > n_fft:
        raise ValueError(f"model.autoencoder.hop must be an int in (0, n_fft={n_fft}], got {hop!r}")
    if window not in WINDOWS:
        raise ValueError(f"model.autoencoder.window must be one of {sorted(WINDOWS)}, not {window!r}")


def _check_magnitudes(clean_mag: torch.Tensor, noise_mag: torch.Tensor) -> None:
    if clean_mag.shape != noise_mag.shape:
        raise ValueError(f"clean and noise magnitudes differ in shape: {tuple(clean_mag.shape)} "
                         f"vs {tuple(noise_mag.shape)}")
    if (clean_mag < 0).any() or (noise_mag < 0).any():
        raise ValueError("magnitudes must be non-negative")


def ideal_ratio_mask(clean_mag: torch.Tensor, noise_mag: torch.Tensor) -> torch.Tensor:
    """IRM ``sqrt(|S|^2 / (|S|^2 + |N|^2))``, in [0, 1].

    ``clean_mag``, ``noise_mag``: ``(..., frames, bins)`` -> same shape. Units with neither speech
    nor noise get 0 (nothing to keep) instead of 0/0.
    """
    _check_magnitudes(clean_mag, noise_mag)
    clean_power = clean_mag.square()
    total = clean_power + noise_mag.square()
    ratio = clean_power / torch.where(total > 0, total, torch.ones_like(total))
    return ratio.sqrt()


def ideal_binary_mask(clean_mag: torch.Tensor, noise_mag: torch.Tensor, threshold_db: float) -> torch.Tensor:
    """IBM: 1 where the clean-to-noise energy ratio strictly exceeds ``threshold_db`` (LC), else 0.

    ``clean_mag``, ``noise_mag``: ``(..., frames, bins)`` -> float mask of the same shape. Compared as
    ``|S|^2 > 10^(LC/10) |N|^2`` so that zero noise (infinite SNR) needs no logarithm of zero.
    """
    _check_magnitudes(clean_mag, noise_mag)
    gain = 10.0 ** (threshold_db / 10.0)
    return (clean_mag.square() > gain * noise_mag.square()).to(clean_mag.dtype)


def training_loss(output: torch.Tensor, target_tensor: torch.Tensor, loss: str,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean training loss; ``output`` and ``target_tensor``: ``(batch, frames, bins)``.

    - ``"mse"``: squared error; ``output`` is what :meth:`Autoencoder.forward` returns (the mask
      in [0, 1], or the standardised log-magnitude).
    - ``"bce"``: binary cross-entropy; ``output`` are the mask *logits* (:meth:`Autoencoder.logits`),
      ``target_tensor`` in [0, 1] (the IBM, or the IRM as a soft label). The logit form stays finite
      and keeps its gradient where a saturated sigmoid would not.

    ``weights`` ``(batch, frames)``, optional: per-frame weights (the batches' 0 on crop padding);
    the result is then the weighted mean over frames of the per-frame mean over bins.
    :meth:`Autoencoder.loss` passes the right output for the model's configured loss.
    """
    if output.shape != target_tensor.shape:
        raise ValueError(f"output {tuple(output.shape)} and target {tuple(target_tensor.shape)} differ in shape")
    if loss == "mse":
        elements = F.mse_loss(output, target_tensor, reduction="none")
    elif loss == "bce":
        elements = F.binary_cross_entropy_with_logits(output, target_tensor, reduction="none")
    else:
        raise ValueError(f"loss must be one of {LOSSES}, not {loss!r}")
    if weights is None:
        return elements.mean()
    if weights.shape != output.shape[:-1]:
        raise ValueError(f"weights {tuple(weights.shape)} must be (batch, frames) = {tuple(output.shape[:-1])}")
    return (elements.mean(dim=-1) * weights).sum() / weights.sum().clamp_min(1e-12)


def _down(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    # No conv bias: batch norm's shift replaces it.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride=2, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
    )


def _up(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    # output_padding=1 makes the odd kernel exactly double the length, mirroring _down.
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, kernel, stride=2, padding=kernel // 2, output_padding=1,
                           bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
    )


class Autoencoder(nn.Module):
    """Noisy standardised log-magnitude ``(batch, frames, bins)`` -> ``(batch, frames, bins)``.

    The output is the standardised clean log-magnitude (``mapping``) or a mask in [0, 1]
    (``ibm``, ``irm``).
    """

    TARGETS: tuple[str, ...] = TARGETS

    def __init__(self, config: AutoencoderConfig, target: str) -> None:
        super().__init__()
        check_target_loss(target, config.loss)
        self.config, self.target = config, target
        widths, kernel = config.channels, config.kernel_size
        self.encoder = nn.ModuleList(
            _down(in_ch, out_ch, kernel) for in_ch, out_ch in zip((1, *widths[:-1]), widths)
        )
        # Decoder level i (deepest first) restores the resolution of encoder level i - 1 (level -1 is
        # the input) and is followed by the skip from there, doubling the channels the next level sees.
        skips = (1, *widths[:-1])
        self.decoder = nn.ModuleList()
        in_ch = widths[-1]
        for level in reversed(range(len(widths))):
            out_ch = widths[level - 1] if level > 0 else widths[0]
            self.decoder.append(_up(in_ch, out_ch, kernel))
            in_ch = out_ch + skips[level]
        self.head = nn.Conv2d(in_ch, 1, kernel, padding=kernel // 2)

    @property
    def bins(self) -> int:
        return self.config.bins

    @property
    def output_kind(self) -> str:
        """How the pipeline turns the output into a magnitude: ``"mask"`` or ``"log_magnitude"``."""
        return "mask" if self.target in MASK_TARGETS else "log_magnitude"

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """The head's linear output ``(batch, frames, bins)``: mask logits, or the mapping itself."""
        if features.dim() != 3 or features.shape[-1] != self.bins:
            raise ValueError(f"features must be (batch, frames, {self.bins}), got {tuple(features.shape)}")
        _, frames, bins = features.shape
        stride = self.config.total_stride
        padded = F.pad(features, (0, -bins % stride, 0, -frames % stride)).unsqueeze(1)
        skips, x = [], padded
        for block in self.encoder:
            skips.append(x)
            x = block(x)
        for block, skip in zip(self.decoder, reversed(skips)):
            x = torch.cat([block(x), skip], dim=1)
        return self.head(x)[:, 0, :frames, :bins]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        output = self.logits(features)
        return torch.sigmoid(output) if self.output_kind == "mask" else output

    def loss(self, features: torch.Tensor, target_tensor: torch.Tensor,
             weights: torch.Tensor | None = None) -> torch.Tensor:
        """The configured training loss of this model on ``features`` against ``target_tensor``.

        Both ``(batch, frames, bins)``; the target is the standardised clean log-magnitude for
        ``mapping``, the IBM or IRM for the mask targets. ``weights``: see :func:`training_loss`.
        """
        output = self.logits(features) if self.config.loss == "bce" else self(features)
        return training_loss(output, target_tensor, self.config.loss, weights)


# What the pipeline knows about this architecture (the contract: clearspeech.core.architecture).
ARCHITECTURE = Architecture(
    name="autoencoder", config=AutoencoderConfig, model=Autoencoder, front_end=OWN_STFT,
    targets={"mapping": "log_magnitude", "ibm": "mask", "irm": "mask"},
    task=OWN_LOSS, stream=None, onnx=True,
)
