"""The architectures, one file each, looked up by name (``model.arch`` in ``params.yaml``).

Each file declares its :class:`~clearspeech.core.architecture.Architecture` (``ARCHITECTURE``):
front end, targets and output kinds, training task, streaming, ONNX export. :data:`REGISTRY` lists
them; everything else in the pipeline reads it. Adding an architecture is one file plus one line
here (and a ``ModelParams`` field to set its sizes from ``params.yaml``; without one it trains
with its config's defaults).

Spectral models map ``(batch, frames, bins)`` standardised noisy log-magnitudes to an output of
the same shape whose meaning the architecture's output kind states; waveform models map
``(batch, samples)`` to ``(batch, samples)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from clearspeech.core.architecture import Architecture
from clearspeech.core.config import from_mapping, one_of, validate
from clearspeech.models import autoencoder, crn, crnn, rced, segan

REGISTRY: dict[str, Architecture] = {spec.name: spec for spec in (
    crnn.ARCHITECTURE,
    crn.ARCHITECTURE,
    rced.ARCHITECTURE,
    autoencoder.ARCHITECTURE,
    segan.ARCHITECTURE,
)}

__all__ = ["REGISTRY", "ModelParams", "architecture", "build_model", "parameter_count"]


def architecture(name: str) -> Architecture:
    """The registered architecture ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


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
        validate(self, "model", arch=one_of(tuple(REGISTRY)))
        REGISTRY[self.arch].target_for(self.target)
        for name, spec in REGISTRY.items():
            if section := getattr(self, name, None):  # every given sub-section, before any work starts
                try:
                    from_mapping(spec.config, section)
                except ValueError as err:
                    raise ValueError(f"model.{name}: {err}") from err

    @property
    def arch_config(self) -> dict[str, Any]:
        """The chosen architecture's sub-section, validated against its config dataclass."""
        sections = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                    if field.name not in ("arch", "target")}
        return dataclasses.asdict(from_mapping(REGISTRY[self.arch].config, sections.get(self.arch, {})))


def build_model(arch: str, config: Mapping[str, Any], bins: int, target: str) -> nn.Module:
    """Instantiate architecture ``arch`` from its config mapping (a params section or checkpoint).

    ``bins`` is the stored spectra's, for models without their own STFT (they must agree).
    """
    return architecture(arch).build(config, bins, target)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
