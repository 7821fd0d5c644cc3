"""The architectures, one file each, looked up by name (``model.arch`` in ``params.yaml``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from clearspeech.config import from_mapping
from clearspeech.models.crnn import CRNN, TARGETS, CRNNConfig

ARCHITECTURES: dict[str, tuple[type, type[nn.Module]]] = {"crnn": (CRNNConfig, CRNN)}

__all__ = ["ARCHITECTURES", "TARGETS", "ModelParams", "build_model", "parameter_count"]


@dataclasses.dataclass(frozen=True)
class ModelParams:
    """The ``model`` section of ``params.yaml``: which architecture, its target, its sizes.

    Each architecture has a sub-section named after it; only the chosen one is used.
    """

    arch: str = "crnn"
    target: str = "irm"
    crnn: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"model.arch must be one of {sorted(ARCHITECTURES)}, not {self.arch!r}")
        if self.target not in TARGETS:
            raise ValueError(f"model.target must be one of {TARGETS}, not {self.target!r}")

    @property
    def arch_config(self) -> dict[str, Any]:
        """The chosen architecture's sub-section, validated against its config dataclass."""
        config_cls = ARCHITECTURES[self.arch][0]
        return dataclasses.asdict(from_mapping(config_cls, getattr(self, self.arch)))


def build_model(arch: str, config: Mapping[str, Any], bins: int, target: str) -> nn.Module:
    """Instantiate architecture ``arch`` from its config mapping (a params section or checkpoint)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    config_cls, model_cls = ARCHITECTURES[arch]
    return model_cls(from_mapping(config_cls, config), bins, target)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
