"""ONNX export: the network between the STFT and the inverse STFT, with its normalisation.

The graph maps the noisy STFT magnitude ``(batch, frames, bins)`` to the enhanced magnitude of
the same shape; any batch size and any number of frames. The host computes the STFT and
rebuilds the waveform with the noisy phase, using the settings in the JSON metadata written
beside the ``.onnx`` file (ONNX has an STFT operator but no inverse). Standardisation, the
model and the mask or mapping back to a magnitude are inside the graph, so the metadata's STFT
settings are all a runtime needs.

The TorchScript exporter is used on purpose: ``torch.export`` (the default exporter since
PyTorch 2.9) specialises the LSTM's sequence length to the example's (checked with PyTorch
2.11: a ``Dim.DYNAMIC`` frames axis is rejected), while the TorchScript exporter emits an ONNX
``LSTM`` whose length stays dynamic.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from clearspeech.core.files import atomic_path, file_digest, write_text_atomic
from clearspeech.models import REGISTRY, architecture
from clearspeech.models.checkpoint import model_from_checkpoint
from clearspeech.models.outputs import Standardizer, output_to_log_magnitude

OPSET = 17
INPUT, OUTPUT = "noisy_magnitude", "enhanced_magnitude"


class SpectralGraph(nn.Module):
    """Noisy magnitude ``(batch, frames, bins)`` -> enhanced magnitude ``(batch, frames, bins)``."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__()
        self.model = model_from_checkpoint(payload)
        self.standardizer = Standardizer(payload["stats"])
        self.kind = architecture(payload["arch"]).output_kind(payload["target"])
        self.floor = float(payload["stft"]["floor"])

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        noisy_log = torch.log(magnitude.clamp_min(self.floor))
        output = self.model(self.standardizer.noisy(noisy_log))
        return output_to_log_magnitude(output, noisy_log, self.kind, self.standardizer).exp()


def metadata_path(onnx_path: Path) -> Path:
    """Where the metadata of ``onnx_path`` goes: the same name with ``.json``."""
    return onnx_path.with_suffix(".json")


def metadata(payload: dict[str, Any]) -> dict[str, Any]:
    """What a runtime needs around the graph: rate, STFT settings, tensor names, provenance."""
    stft = payload["stft"]
    return {
        "format": "clearspeech-onnx/1", "arch": payload["arch"], "target": payload["target"],
        "sample_rate": stft["sample_rate"], "n_fft": stft["n_fft"], "hop": stft["hop"],
        "window": f"periodic {stft['window']}", "center": True, "pad_mode": "reflect",
        "bins": payload["bins"], "input": INPUT, "output": OUTPUT, "layout": "(batch, frames, bins) float32",
        "phase": "noisy: enhanced = istft(enhanced_magnitude * exp(1j * angle(stft(noisy))))",
        "opset": OPSET,
    }


def export_onnx(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    """Write ``path`` (ONNX, checked) and its metadata JSON atomically; the metadata.

    Architectures that declare ONNX export only: :class:`ValueError` for another (the waveform model).
    """
    spec = architecture(payload["arch"])
    if not spec.onnx:
        exportable = ", ".join(name for name, other in REGISTRY.items() if other.onnx)
        raise ValueError(f"ONNX export covers {exportable}; {spec.name} is a {spec.front_end} model")
    graph = SpectralGraph(payload).eval()
    example = torch.rand(1, 64, payload["bins"])
    axes = {0: "batch", 1: "frames"}
    meta = metadata(payload)
    with atomic_path(path, suffix=".onnx") as tmp, warnings.catch_warnings():
        # The LSTM batch warning concerns initial states passed as inputs (ours are zeros built
        # inside); the tracer warnings are the LSTM's input-size checks, constant for one model.
        # tests/test_export.py checks other batch sizes and lengths against PyTorch.
        warnings.filterwarnings("ignore", category=UserWarning, message=".*batch_size other than 1.*")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*legacy TorchScript-based ONNX.*")
        torch.onnx.export(graph, (example,), str(tmp), dynamo=False, opset_version=OPSET, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes={INPUT: axes, OUTPUT: axes})
        model = onnx.load(str(tmp))
        onnx.checker.check_model(model)
        onnx.helper.set_model_props(model, {key: str(value) for key, value in meta.items()})
        onnx.save(model, str(tmp))
    write_text_atomic(metadata_path(path), json.dumps({**meta, "sha256": file_digest(path)}, indent=2) + "\n")
    return meta
