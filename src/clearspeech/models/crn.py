"""CRN: Tan & Wang, "A Convolutional Recurrent Neural Network for Real-Time Speech Enhancement",
Interspeech 2018.

The paper's design, all sizes being config fields with the paper's values as defaults:

- Front end: 161-bin spectra of 20 ms frames with a 10 ms hop at 16 kHz (``n_fft=320``,
  ``hop=160``, Hamming window).
- Encoder: five convolutions with kernel 2 x 3 (time x frequency), stride 1 x 2 (frequency only),
  16-32-64-128-256 channels, each followed by batch norm and ELU. Frequency positions shrink
  161 -> 80 -> 39 -> 19 -> 9 -> 4 (no frequency padding).
- Two LSTM layers on the encoder output flattened per frame (256 channels x 4 positions = 1024),
  with 1024 units each so the output can be reshaped back to (256, 4).
- Decoder: five transposed convolutions mirroring the encoder (kernel 2 x 3, stride 1 x 2,
  128-64-32-16-1 channels), each fed the previous layer's output concatenated along channels with
  the mirrored encoder output (skip connections); batch norm and ELU after each but the last,
  whose output goes through softplus (the paper regresses the clean magnitude).
- Strictly causal: a time kernel of 2 sees frames t-1 and t; nothing from the future. About 17.58 M
  parameters with the defaults, as in the paper.

Departures, deliberately:

- Input is the per-bin standardised noisy log-magnitude (the project's front end), not the noisy
  magnitude; the encoder does not care which scale it sees, and standardised inputs train faster.
- ``target="mapping"`` keeps the paper's softplus head (``output_kind == "magnitude"``: the clean
  magnitude directly); ``target="irm"`` adds what the paper does not have, a sigmoid head giving a
  ratio mask in [0, 1] (``output_kind == "mask"``).
- Frequency sizes other than 161 bins are supported: each transposed convolution gets the
  ``output_padding`` (0 or 1) that brings back exactly the mirrored encoder size, so any
  ``n_fft`` large enough for five stride-2 layers round-trips to ``n_fft // 2 + 1`` bins.
- Causality is made explicit: each convolution is padded with ``kernel_time - 1`` zero frames in
  the past only, and each transposed convolution's ``kernel_time - 1`` trailing output frames (the
  ones that reach beyond the last input frame) are cropped, so output frame t depends on input
  frames <= t only. Batch norm uses batch statistics in training (as the paper) but its running
  statistics at inference, which makes it a per-frame affine map, hence causal.

Shapes: features ``(batch, frames, bins)`` -> output ``(batch, frames, bins)``; internally
``(batch, channels, frames, positions)``.

:class:`CRNStream` runs the same weights one frame at a time: each (transposed) convolution keeps
its last ``kernel_time - 1`` input frames, the LSTM keeps ``(h, c)``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional

from clearspeech.core.architecture import OWN_STFT, SPECTRAL, Architecture
from clearspeech.core.config import at_least, validate
from clearspeech.core.stft import WINDOWS

TARGETS = ("mapping", "irm")


def _encoder_sizes(bins: int, layers: int, kernel: int, stride: int) -> list[int]:
    """Frequency positions at the input of each encoder layer and after the last one."""
    sizes = [bins]
    for _ in range(layers):
        sizes.append((sizes[-1] - kernel) // stride + 1)
    return sizes


@dataclasses.dataclass(frozen=True)
class CRNConfig:
    """The ``model.crn`` section of ``params.yaml``: front end and sizes (defaults: the paper's)."""

    n_fft: int = 320
    hop: int = 160
    window: str = "hamming"
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    kernel_time: int = 2
    kernel_freq: int = 3
    stride_freq: int = 2
    rnn_layers: int = 2

    def __post_init__(self) -> None:
        validate(self, "model.crn", n_fft=at_least(2))  # types; the sizes below
        if self.window not in WINDOWS:
            raise ValueError(f"model.crn.window must be one of {sorted(WINDOWS)}, not {self.window!r}")
        if not 0 < self.hop <= self.n_fft:
            raise ValueError(f"model.crn.hop must be in (0, n_fft={self.n_fft}], got {self.hop}")
        if not self.channels or any(int(c) < 1 for c in self.channels):
            raise ValueError(f"model.crn.channels must be a non-empty list of positive ints, got {self.channels}")
        if self.kernel_time < 1:
            raise ValueError(f"model.crn.kernel_time must be >= 1, got {self.kernel_time}")
        if not 1 <= self.stride_freq <= self.kernel_freq:
            # A stride beyond the kernel would skip bins entirely.
            raise ValueError(f"model.crn.stride_freq must be in [1, kernel_freq={self.kernel_freq}], "
                             f"got {self.stride_freq}")
        if self.rnn_layers < 1:
            raise ValueError(f"model.crn.rnn_layers must be >= 1, got {self.rnn_layers}")
        positions = self.encoder_sizes[-1]
        if positions < 1:
            raise ValueError(f"model.crn.n_fft={self.n_fft} gives {self.bins} bins, too few for "
                             f"{len(self.channels)} encoder layers (kernel_freq={self.kernel_freq}, "
                             f"stride_freq={self.stride_freq})")

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def encoder_sizes(self) -> list[int]:
        return _encoder_sizes(self.bins, len(self.channels), self.kernel_freq, self.stride_freq)


class _CausalConv(nn.Module):
    """Conv2d over ``(batch, channels, frames, positions)`` seeing only current and past frames."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d, norm: nn.Module | None) -> None:
        super().__init__()
        self.conv, self.norm = conv, norm
        self.context = conv.kernel_size[0] - 1

    def _finish(self, out: torch.Tensor) -> torch.Tensor:
        return out if self.norm is None else functional.elu(self.norm(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.conv, nn.ConvTranspose2d):
            # Output frame t collects input frames t-k+1..t; the last k-1 frames spill past the end.
            out = self.conv(x)[:, :, : x.shape[2]]
        else:
            out = self.conv(functional.pad(x, (0, 0, self.context, 0)))
        return self._finish(out)

    def step(self, x: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame ``(batch, channels, 1, positions)`` given the last ``context`` input frames."""
        window = torch.cat([past, x], dim=2)
        out = self.conv(window)
        # Transposed: window frame i reaches outputs i..i+k-1; the one fed by all k frames is k-1.
        out = out[:, :, self.context: self.context + 1] if isinstance(self.conv, nn.ConvTranspose2d) else out
        return self._finish(out), window[:, :, 1:]


class CRN(nn.Module):
    """Noisy standardised log-magnitude ``(batch, frames, bins)`` -> ``(batch, frames, bins)``.

    The output is the clean magnitude (``mapping``, softplus) or a mask in [0, 1] (``irm``).
    """

    TARGETS: tuple[str, ...] = TARGETS

    def __init__(self, config: CRNConfig, target: str) -> None:
        super().__init__()
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
        self.config, self.target, self.bins = config, target, config.bins
        channels = [1, *config.channels]
        kernel, stride = (config.kernel_time, config.kernel_freq), (1, config.stride_freq)
        self.encoder = nn.ModuleList(
            _CausalConv(nn.Conv2d(c_in, c_out, kernel, stride=stride), nn.BatchNorm2d(c_out))
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
        )
        sizes = config.encoder_sizes
        self.positions = sizes[-1]
        width = channels[-1] * self.positions
        self.rnn = nn.LSTM(width, width, num_layers=config.rnn_layers, batch_first=True)
        decoder = []
        for index in reversed(range(len(config.channels))):
            c_in, c_out = 2 * channels[index + 1], channels[index]
            # Bring back exactly the size the mirrored encoder layer was fed (floor division lost 0..s-1).
            extra = sizes[index] - ((sizes[index + 1] - 1) * config.stride_freq + config.kernel_freq)
            conv = nn.ConvTranspose2d(c_in, c_out, kernel, stride=stride, output_padding=(0, extra))
            decoder.append(_CausalConv(conv, nn.BatchNorm2d(c_out) if index > 0 else None))
        self.decoder = nn.ModuleList(decoder)

    @property
    def output_kind(self) -> str:
        return "mask" if self.target == "irm" else "magnitude"

    def _head(self, out: torch.Tensor) -> torch.Tensor:
        out = out.squeeze(1)
        return torch.sigmoid(out) if self.target == "irm" else functional.softplus(out)

    def _to_frames(self, maps: torch.Tensor) -> torch.Tensor:
        batch, _, frames, _ = maps.shape
        return maps.permute(0, 2, 1, 3).reshape(batch, frames, -1)

    def _to_maps(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, frames, _ = hidden.shape
        return hidden.reshape(batch, frames, -1, self.positions).permute(0, 2, 1, 3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x, skips = features.unsqueeze(1), []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        hidden, _ = self.rnn(self._to_frames(x))
        x = self._to_maps(hidden)
        for layer, skip in zip(self.decoder, reversed(skips), strict=True):
            x = layer(torch.cat([x, skip], dim=1))
        return self._head(x)


class CRNStream:
    """Frame-by-frame inference with a :class:`CRN` in eval mode; equals the offline ``forward``.

    State: the last ``kernel_time - 1`` input frames of every (transposed) convolution and the
    LSTM's ``(h, c)``. No look-ahead frame: the latency is the STFT window's
    (:attr:`clearspeech.inference.streaming.StreamingEnhancer.latency_ms`).
    """

    def __init__(self, model: CRN) -> None:
        if model.training:
            raise ValueError("CRNStream needs a model in eval mode (batch norm on running statistics)")
        self.model = model
        self.reset(1)

    def _zeros(self, batch: int, layer: _CausalConv, size: int) -> torch.Tensor:
        weight = layer.conv.weight
        channels = layer.conv.in_channels
        return weight.new_zeros(batch, channels, layer.context, size)

    def reset(self, batch: int) -> None:
        """Forget everything: the stream restarts as if at frame 0 of ``batch`` new signals."""
        model, sizes = self.model, self.model.config.encoder_sizes
        self.encoder_past = [self._zeros(batch, layer, sizes[i]) for i, layer in enumerate(model.encoder)]
        self.decoder_past = [self._zeros(batch, layer, sizes[-1 - i]) for i, layer in enumerate(model.decoder)]
        width = model.rnn.hidden_size
        zeros = model.rnn.weight_ih_l0.new_zeros(model.rnn.num_layers, batch, width)
        self.rnn_state = (zeros, zeros.clone())

    @torch.no_grad()
    def step(self, frame: torch.Tensor) -> torch.Tensor:
        """One feature frame ``(batch, bins)`` -> one output frame ``(batch, bins)``."""
        model = self.model
        x, skips = frame[:, None, None, :], []
        for index, layer in enumerate(model.encoder):
            x, self.encoder_past[index] = layer.step(x, self.encoder_past[index])
            skips.append(x)
        hidden, self.rnn_state = model.rnn(model._to_frames(x), self.rnn_state)
        x = model._to_maps(hidden)
        for index, (layer, skip) in enumerate(zip(model.decoder, reversed(skips), strict=True)):
            x, self.decoder_past[index] = layer.step(torch.cat([x, skip], dim=1), self.decoder_past[index])
        return model._head(x)[:, 0]


# What the pipeline knows about this architecture (the contract: clearspeech.core.architecture).
ARCHITECTURE = Architecture(
    name="crn", config=CRNConfig, model=CRN, front_end=OWN_STFT,
    targets={"mapping": "magnitude", "irm": "mask"},
    task=SPECTRAL, stream=CRNStream, onnx=True,
)
