"""The contract of an architecture: one frozen :class:`Architecture` per model file.

Each file in :mod:`clearspeech.models` declares, beside its config dataclass, an
``ARCHITECTURE`` saying everything the pipeline needs to know about it; the registry
(:data:`clearspeech.models.REGISTRY`) lists them, and training, enhancement, streaming, export and
the benchmarks read only these objects. It lives in ``core`` (not ``models``) so that a model file
can import it without importing the registry that imports the model files.

Front ends (what the model reads):

- ``stored``: the features stage's stored spectra; the model is built as ``model(config, bins, target)``.
- ``own_stft``: its own STFT (its config has ``n_fft``, ``hop``, ``window``), computed on the fly
  from the stored waveforms; built as ``model(config, target)``.
- ``waveform``: the waveform itself (its config has ``sample_rate`` and the training crop
  ``window``); built as ``model(config)``, and the model has ``enhance(waves) -> waves``.

Tasks (how :class:`clearspeech.training.trainer.Trainer` trains it): ``spectral`` (MSE in the
output domain or the compressed-magnitude loss), ``own_loss`` (the model's ``loss`` method on its own
target) and ``adversarial`` (the waveform GAN's generator and discriminator steps).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from clearspeech.core.config import from_mapping
from clearspeech.core.stft import StftParams

STORED, OWN_STFT, WAVEFORM = "stored", "own_stft", "waveform"
FRONT_ENDS = (STORED, OWN_STFT, WAVEFORM)
SPECTRAL, OWN_LOSS, ADVERSARIAL = "spectral", "own_loss", "adversarial"
TASKS = (SPECTRAL, OWN_LOSS, ADVERSARIAL)
# mask: in [0, 1], times the noisy magnitude; log_magnitude: the standardised clean log-magnitude;
# magnitude: the clean magnitude; waveform: the enhanced waveform.
OUTPUT_KINDS = ("mask", "log_magnitude", "magnitude", WAVEFORM)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What one architecture is: its name (``model.arch``), config dataclass (``model.<name>``),
    model class, front end, the targets it trains for and the output kind of each (``targets``:
    target -> kind), training task, stream class (frame-by-frame inference; None when not causal)
    and whether its spectral graph exports to ONNX."""

    name: str
    config: type
    model: Callable[..., Any]
    front_end: str
    targets: Mapping[str, str]
    task: str
    stream: Callable[[Any], Any] | None = None
    onnx: bool = False

    def __post_init__(self) -> None:
        if self.front_end not in FRONT_ENDS:
            raise ValueError(f"{self.name}: front_end must be one of {FRONT_ENDS}, not {self.front_end!r}")
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: task must be one of {TASKS}, not {self.task!r}")
        unknown = sorted(set(self.targets.values()) - set(OUTPUT_KINDS))
        if not self.targets or unknown:
            raise ValueError(f"{self.name}: targets must map to output kinds {OUTPUT_KINDS}, got {dict(self.targets)}")
        if (self.front_end == WAVEFORM) != (self.task == ADVERSARIAL) or (self.front_end == WAVEFORM and self.onnx):
            raise ValueError(f"{self.name}: a waveform front end goes with the adversarial task and no ONNX")

    @property
    def own_loss(self) -> bool:
        return self.task == OWN_LOSS

    def target_for(self, requested: str) -> str:
        """The target a model trains for given ``model.target``: ``requested``, checked; a
        waveform model has the single target ``waveform`` and ignores ``model.target``."""
        if self.front_end == WAVEFORM:
            return WAVEFORM
        if requested not in self.targets:
            raise ValueError(f"model.target: must be one of {tuple(self.targets)} for {self.name}, "
                             f"not {requested!r}")
        return requested

    def output_kind(self, target: str) -> str:
        """What the model's output is for ``target`` (one of :data:`OUTPUT_KINDS`)."""
        return self.targets[target]

    def stft(self, config: Mapping[str, Any], sample_rate: int) -> StftParams | None:
        """The model's own STFT (``own_stft``), or None when it reads stored spectra or waveforms."""
        if self.front_end != OWN_STFT:
            return None
        cfg = from_mapping(self.config, config)
        return StftParams(cfg.n_fft, cfg.hop, cfg.window, sample_rate)

    def build(self, config: Mapping[str, Any], bins: int, target: str) -> Any:
        """The model (an ``nn.Module``) from its config mapping (a params section or checkpoint).

        ``bins`` is the stored spectra's; a model with its own STFT must agree with it.
        """
        cfg = from_mapping(self.config, config)
        if self.front_end == WAVEFORM:
            return self.model(cfg)
        if self.front_end == STORED:
            return self.model(cfg, bins, target)
        if cfg.n_fft // 2 + 1 != bins:
            raise ValueError(f"{self.name}: n_fft={cfg.n_fft} gives {cfg.n_fft // 2 + 1} bins, not {bins}")
        return self.model(cfg, target)
