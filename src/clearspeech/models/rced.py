"""R-CED / CR-CED: Park & Lee, "A Fully Convolutional Neural Network for Speech Enhancement"
(arXiv 1609.07132, 2016; Interspeech 2017), in the Cascaded R-CED form used by the Daitan study
(T. Silva, "Speech enhancement with deep learning" / "Practical Deep Learning Audio Denoising",
Daitan, 2019; code: daitan-innovation/cnn-audio-denoiser).

Taken from the paper: a fully convolutional "redundant" encoder-decoder (no pooling, no
upsampling, so the frequency resolution is kept at every layer) whose convolutions run along
frequency only; the input is ``context = 8`` consecutive noisy STFT frames of a 256-point STFT
(129 bins) and the output is the current clean frame; the cascaded variant (CR-CED) repeats a
small encoder-decoder block, each layer being convolution, ReLU and batch normalisation, with
additive skip connections between mirrored layers, and ends with a one-filter convolution.

Taken from Daitan's published network (verified in its code): the layout of the cascade, five
blocks of (18, 30, 8) filters with widths (9, 5, 9) bins, the first layer's kernel spanning all 8
frames (here: the frames are its input channels), convolutions without bias, the order
Conv -> ReLU -> BatchNorm, the skips (the 30-filter convolution of block 1 added to that of
block 5, block 2 to block 4, before their ReLU), spatial (channel) dropout 0.2 before the final
convolution of 1 filter and width 129 bins with zero "same" padding; its front end (window 256,
hop 64, i.e. 75 % overlap, Hamming window). About 33 K parameters (32,373 with the defaults).

Departures, deliberately:

- 16 kHz audio (the project's rate) instead of the paper's 8 kHz, so the 129 bins span 0-8 kHz.
- Input is the per-bin standardised noisy log-magnitude; ``target="mapping"`` regresses the
  standardised clean log-magnitude (linear output, ``output_kind == "log_magnitude"``) and
  ``target="irm"`` a ratio mask in [0, 1] (sigmoid, ``output_kind == "mask"``), where Daitan maps
  standardised magnitudes to magnitudes.
- The first ``context - 1`` output frames see copies of frame 0 in place of the missing past
  (Daitan prepends frames 0..6, which lets those outputs peek at the future): strictly causal, and
  a stream can do the same the moment its first frame arrives.
- For ``repeats`` other than 5 the skips generalise as block ``b`` -> block ``repeats - 1 - b``
  (``b < repeats // 2``), taken at the middle layer of each block.
- Daitan's L2 weight penalty is the optimiser's business, not the model's.

Shapes: features ``(batch, frames, bins)`` -> windows ``(batch * frames, context, bins)`` (frames
as channels, stacked in one tensor operation) -> output ``(batch, frames, bins)``.

:class:`RCEDStream` keeps the last ``context - 1`` input frames; with no look-ahead the latency is
the STFT window's (:attr:`clearspeech.inference.streaming.StreamingEnhancer.latency_ms`).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from clearspeech.core.architecture import OWN_STFT, SPECTRAL, Architecture
from clearspeech.core.config import at_least, validate
from clearspeech.core.stft import WINDOWS

TARGETS = ("mapping", "irm")


@dataclasses.dataclass(frozen=True)
class RCEDConfig:
    """The ``model.rced`` section of ``params.yaml``: front end and sizes (defaults: CR-CED as Daitan's)."""

    n_fft: int = 256
    hop: int = 64
    window: str = "hamming"
    context: int = 8
    filters: tuple[int, ...] = (18, 30, 8)
    kernels: tuple[int, ...] = (9, 5, 9)
    repeats: int = 5
    out_kernel: int = 129
    dropout: float = 0.2

    def __post_init__(self) -> None:
        validate(self, "model.rced", n_fft=at_least(2))  # types; the sizes below
        if self.window not in WINDOWS:
            raise ValueError(f"model.rced.window must be one of {sorted(WINDOWS)}, not {self.window!r}")
        if not 0 < self.hop <= self.n_fft:
            raise ValueError(f"model.rced.hop must be in (0, n_fft={self.n_fft}], got {self.hop}")
        if self.context < 1:
            raise ValueError(f"model.rced.context must be >= 1 frame, got {self.context}")
        if not self.filters or any(f < 1 for f in self.filters):
            raise ValueError(f"model.rced.filters must be a non-empty list of positive ints, got {self.filters}")
        if len(self.kernels) != len(self.filters):
            raise ValueError(f"model.rced.kernels needs one width per filter count ({len(self.filters)}), "
                             f"got {self.kernels}")
        # Odd widths pad symmetrically ("same"), so bin k of every layer stays centred on input bin k.
        if any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ValueError(f"model.rced.kernels must be odd positive widths, got {self.kernels}")
        if self.out_kernel < 1 or self.out_kernel % 2 == 0:
            raise ValueError(f"model.rced.out_kernel must be an odd positive width, got {self.out_kernel}")
        if self.repeats < 1:
            raise ValueError(f"model.rced.repeats must be >= 1, got {self.repeats}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.rced.dropout must be in [0, 1), got {self.dropout}")

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1


class _ConvReluNorm(nn.Module):
    """Conv1d along frequency -> (+ skip) -> ReLU -> BatchNorm; keeps the pre-activation for skips."""

    def __init__(self, c_in: int, c_out: int, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, width, padding=width // 2, bias=False)
        self.norm = nn.BatchNorm1d(c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pre = self.conv(x)
        if skip is not None:
            pre = pre + skip
        return self.norm(torch.relu(pre)), pre


class RCED(nn.Module):
    """Noisy standardised log-magnitude ``(batch, frames, bins)`` -> ``(batch, frames, bins)``.

    Output frame t is computed from input frames t-context+1..t only.
    """

    TARGETS: tuple[str, ...] = TARGETS

    def __init__(self, config: RCEDConfig, target: str) -> None:
        super().__init__()
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
        self.config, self.target, self.bins = config, target, config.bins
        layers, c_in = [], config.context
        for _ in range(config.repeats):
            for c_out, width in zip(config.filters, config.kernels, strict=True):
                layers.append(_ConvReluNorm(c_in, c_out, width))
                c_in = c_out
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout1d(config.dropout)
        self.out = nn.Conv1d(c_in, 1, config.out_kernel, padding=config.out_kernel // 2)
        per_block, middle = len(config.filters), len(config.filters) // 2
        # Mirrored blocks b and repeats-1-b exchange their middle layer's pre-activation.
        self.skip_from = {b * per_block + middle: b for b in range(config.repeats // 2)}
        self.skip_to = {(config.repeats - 1 - b) * per_block + middle: b for b in range(config.repeats // 2)}

    @property
    def output_kind(self) -> str:
        return "mask" if self.target == "irm" else "log_magnitude"

    def windows(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, bins)`` -> ``(batch, frames, context, bins)``, oldest frame first."""
        frames, context = features.shape[1], self.config.context
        padded = torch.cat([features[:, :1].expand(-1, context - 1, -1), features], dim=1)
        # Shifted slices rather than Tensor.unfold: the ONNX exporter cannot unfold a dynamic length.
        return torch.stack([padded[:, shift:shift + frames] for shift in range(context)], dim=2)

    def predict(self, windows: torch.Tensor) -> torch.Tensor:
        """Frame windows ``(n, context, bins)`` -> the enhanced current frames ``(n, bins)``."""
        x, saved = windows, {}
        for index, layer in enumerate(self.layers):
            skip = saved[self.skip_to[index]] if index in self.skip_to else None
            x, pre = layer(x, skip)
            if index in self.skip_from:
                saved[self.skip_from[index]] = pre
        out = self.out(self.dropout(x))[:, 0]
        return torch.sigmoid(out) if self.target == "irm" else out

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, frames, bins = features.shape
        windows = self.windows(features).reshape(batch * frames, self.config.context, bins)
        return self.predict(windows).reshape(batch, frames, bins)


class RCEDStream:
    """Frame-by-frame inference with an :class:`RCED` in eval mode; equals the offline ``forward``.

    State: the last ``context - 1`` input frames, filled with the first frame when it arrives.
    """

    def __init__(self, model: RCED) -> None:
        if model.training:
            raise ValueError("RCEDStream needs a model in eval mode (batch norm on running statistics)")
        self.model = model
        self.reset(1)

    def reset(self, batch: int) -> None:
        """Forget everything: the stream restarts as if at frame 0 of ``batch`` new signals."""
        self.batch = batch
        self.past: torch.Tensor | None = None

    @torch.no_grad()
    def step(self, frame: torch.Tensor) -> torch.Tensor:
        """One feature frame ``(batch, bins)`` -> one output frame ``(batch, bins)``."""
        if frame.shape[0] != self.batch:
            raise ValueError(f"stream was reset for batch {self.batch}, got a frame of batch {frame.shape[0]}")
        if self.past is None:
            self.past = frame[:, None].expand(-1, self.model.config.context - 1, -1)
        window = torch.cat([self.past, frame[:, None]], dim=1)
        self.past = window[:, 1:]
        return self.model.predict(window)


# What the pipeline knows about this architecture (the contract: clearspeech.core.architecture).
ARCHITECTURE = Architecture(
    name="rced", config=RCEDConfig, model=RCED, front_end=OWN_STFT,
    targets={"mapping": "log_magnitude", "irm": "mask"},
    task=SPECTRAL, stream=RCEDStream, onnx=True,
)
