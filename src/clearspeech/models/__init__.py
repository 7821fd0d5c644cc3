"""The architectures, one file each, looked up by name (``model.arch`` in ``params.yaml``).

Spectral models map ``(batch, frames, bins)`` standardised noisy log-magnitudes to an output of
the same shape whose meaning their ``output_kind`` states. The default CRNN uses the features
stage's STFT (its ``bins`` come from the store); the others carry their own STFT in their config
(``n_fft``, ``hop``, ``window``) and are trained from waveform crops (:mod:`clearspeech.training.frontend`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from clearspeech.core.config import from_mapping, one_of, validate
from clearspeech.core.stft import StftParams
from clearspeech.models.autoencoder import Autoencoder, AutoencoderConfig
from clearspeech.models.crn import CRN, CRNConfig
from clearspeech.models.crnn import CRNN, CRNNConfig
from clearspeech.models.rced import RCED, RCEDConfig
from clearspeech.models.segan import Generator, SEGANConfig

ARCHITECTURES: dict[str, tuple[type, type[nn.Module]]] = {
    "crnn": (CRNNConfig, CRNN), "crn": (CRNConfig, CRN), "rced": (RCEDConfig, RCED),
    "autoencoder": (AutoencoderConfig, Autoencoder), "segan": (SEGANConfig, Generator),
}
# Waveform in, waveform out: no STFT, no target (the generator's checkpoint holds only itself).
WAVEFORM_ARCHS = ("segan",)

__all__ = ["ARCHITECTURES", "WAVEFORM_ARCHS", "ModelParams", "build_model", "front_end_params",
           "parameter_count"]


def _targets(arch: str) -> tuple[str, ...]:
    model_cls = ARCHITECTURES[arch][1]
    return getattr(model_cls, "TARGETS", ("mapping", "irm"))


@dataclasses.dataclass(frozen=True)
class ModelParams:
    """The ``model`` section of ``params.yaml``: which architecture, its target, its sizes.

    Each architecture has a sub-section named after it; only the chosen one is used.
    """

    arch: str = "crnn"
    target: str = "irm"
    crnn: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    crn: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    rced: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    autoencoder: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    segan: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self, "model", arch=one_of(ARCHITECTURES))
        if self.arch not in WAVEFORM_ARCHS and self.target not in _targets(self.arch):
            raise ValueError(f"model.target: must be one of {list(_targets(self.arch))} for {self.arch}, "
                             f"got {self.target!r}")
        for arch, (config_cls, _) in ARCHITECTURES.items():
            if section := getattr(self, arch):  # every given sub-section, before any work starts
                try:
                    from_mapping(config_cls, section)
                except ValueError as err:
                    raise ValueError(f"model.{arch}: {err}") from err

    @property
    def arch_config(self) -> dict[str, Any]:
        """The chosen architecture's sub-section, validated against its config dataclass."""
        config_cls = ARCHITECTURES[self.arch][0]
        return dataclasses.asdict(from_mapping(config_cls, getattr(self, self.arch)))


def _has_own_stft(config_cls: type) -> bool:
    return "n_fft" in {field.name for field in dataclasses.fields(config_cls)}


def front_end_params(arch: str, config: Mapping[str, Any], sample_rate: int) -> StftParams | None:
    """The STFT of ``arch`` when it has its own, or None when it uses the features stage's."""
    config_cls = ARCHITECTURES[arch][0]
    if not _has_own_stft(config_cls):
        return None
    cfg = from_mapping(config_cls, config)
    return StftParams(cfg.n_fft, cfg.hop, cfg.window, sample_rate)


def build_model(arch: str, config: Mapping[str, Any], bins: int, target: str) -> nn.Module:
    """Instantiate architecture ``arch`` from its config mapping (a params section or checkpoint).

    ``bins`` is the stored spectra's, for models without their own STFT (they must agree).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    config_cls, model_cls = ARCHITECTURES[arch]
    cfg = from_mapping(config_cls, config)
    if arch in WAVEFORM_ARCHS:
        return model_cls(cfg)
    if not _has_own_stft(config_cls):
        return model_cls(cfg, bins, target)
    if cfg.n_fft // 2 + 1 != bins:
        raise ValueError(f"{arch}: n_fft={cfg.n_fft} gives {cfg.n_fft // 2 + 1} bins, not {bins}")
    return model_cls(cfg, target)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
