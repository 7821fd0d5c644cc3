"""CRNN: Zhao, Zarar, Tashev & Lee, "Convolutional-Recurrent Neural Networks for Speech
Enhancement", ICASSP 2018 (arXiv 1805.00579).

The paper's design: a convolutional component whose kernels span a patch of frequency x time
of the noisy spectrogram (32 bins x 11 frames, 256 kernels, moved along frequency with stride
16 and along time with stride 1), its feature maps concatenated per frame and fed to stacked
bidirectional LSTMs (two layers of 1024 units per direction), and a fully connected layer that
regresses the clean spectrum of each frame; trained with the mean squared error. All sizes are
config fields; the defaults are the paper's.

Departures, deliberately:

- Input is the per-bin standardised log-magnitude (train-split statistics) of a 512-point STFT
  (257 bins), not the paper's feature front end.
- ``target="mapping"`` regresses the standardised clean log-magnitude (linear output);
  ``target="irm"`` estimates a ratio mask in [0, 1] (sigmoid output) applied to the noisy
  magnitude. Either way the waveform is the iSTFT with the noisy phase.
- Time padding of ``kernel_time // 2`` keeps one output frame per input frame.
- Optional dropout between LSTM layers (0 by default, as in the paper).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from clearspeech.core.architecture import SPECTRAL, STORED, Architecture
from clearspeech.core.config import at_least, below, validate

TARGETS = ("mapping", "irm")


@dataclasses.dataclass(frozen=True)
class CRNNConfig:
    """The ``model.crnn`` section of ``params.yaml``."""

    channels: int = 256
    kernel_freq: int = 32
    kernel_time: int = 11
    stride_freq: int = 16
    rnn_hidden: int = 1024
    rnn_layers: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        validate(self, "model.crnn", channels=at_least(1), kernel_freq=at_least(1), kernel_time=at_least(1),
                 stride_freq=at_least(1), rnn_hidden=at_least(1), rnn_layers=at_least(1),
                 dropout=(at_least(0), below(1)))
        if self.kernel_time % 2 != 1:
            raise ValueError(f"model.crnn.kernel_time must be odd (centred frames), got {self.kernel_time}")


class CRNN(nn.Module):
    """Noisy standardised log-magnitude ``(batch, frames, bins)`` -> ``(batch, frames, bins)``.

    The output is the standardised clean log-magnitude (``mapping``) or a mask in [0, 1] (``irm``).
    """

    def __init__(self, config: CRNNConfig, bins: int, target: str) -> None:
        super().__init__()
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
        if bins < config.kernel_freq:
            raise ValueError(f"{bins} bins are fewer than kernel_freq={config.kernel_freq}")
        self.config, self.bins, self.target = config, bins, target
        self.conv = nn.Conv2d(
            1, config.channels, (config.kernel_time, config.kernel_freq),
            stride=(1, config.stride_freq), padding=(config.kernel_time // 2, 0),
        )
        positions = (bins - config.kernel_freq) // config.stride_freq + 1
        self.rnn = nn.LSTM(
            config.channels * positions, config.rnn_hidden, num_layers=config.rnn_layers,
            batch_first=True, bidirectional=True, dropout=config.dropout if config.rnn_layers > 1 else 0.0,
        )
        self.out = nn.Linear(2 * config.rnn_hidden, bins)

    @property
    def output_kind(self) -> str:
        """``mask`` for ``irm``, ``log_magnitude`` (standardised) for ``mapping``."""
        return "mask" if self.target == "irm" else "log_magnitude"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, frames, _ = features.shape
        maps = torch.relu(self.conv(features.unsqueeze(1)))  # (batch, channels, frames, positions)
        per_frame = maps.permute(0, 2, 1, 3).reshape(batch, frames, -1)
        hidden, _ = self.rnn(per_frame)  # (batch, frames, 2 * rnn_hidden)
        output = self.out(hidden)
        return torch.sigmoid(output) if self.target == "irm" else output


# What the pipeline knows about this architecture (the contract: clearspeech.core.architecture).
ARCHITECTURE = Architecture(
    name="crnn", config=CRNNConfig, model=CRNN, front_end=STORED,
    targets={"mapping": "log_magnitude", "irm": "mask"},
    task=SPECTRAL, stream=None, onnx=True,
)
