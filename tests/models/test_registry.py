"""Every registered architecture does what its ``ARCHITECTURE`` declares, through the real pipeline:
a training step in the Trainer, a checkpoint that rebuilds without params, the Enhancer, the
stream (equal to the offline pass) and ONNX (equal to PyTorch) where declared, refusal where not.
A toy sixth architecture, registered for the test only, goes the same way."""

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from clearspeech import models
from clearspeech.core.architecture import SPECTRAL, STORED, Architecture
from clearspeech.data import demo
from clearspeech.inference.enhancer import Enhancer
from clearspeech.inference.export import export_onnx
from clearspeech.inference.streaming import StreamingEnhancer, StreamingError, streamable
from clearspeech.models import REGISTRY, ModelParams
from clearspeech.models.checkpoint import load_checkpoint, model_from_checkpoint
from clearspeech.training.trainer import TrainConfig, train

from conftest import TINY_CRNN, onnx_enhance

STEP = TrainConfig(device="cpu", threads=1, epochs=1, batch_size=2, crop_frames=32, steps_per_epoch=1)
TINY = {
    "crnn": TINY_CRNN,
    "crn": {"channels": [4, 4, 8, 8, 8], "rnn_layers": 1},
    "rced": {"repeats": 1},
    "autoencoder": {"channels": [4, 8]},
    "segan": {"window": 1024, "channels": [4, 8, 8, 16, 16], "kernel": 7},
}
CASES = [(name, target) for name, spec in REGISTRY.items() for target in spec.targets]


def noisy_speech(seconds: float = 0.6) -> np.ndarray:
    speech = demo.utterance("demo_female", 2, seed=0)[: int(seconds * demo.SAMPLE_RATE)]
    return speech + 0.05 * demo.noise(demo.NOISE_KINDS[0], seconds, seed=1)[: len(speech)]


def trained(features, tmp_path, arch: str, target: str, sizes: dict) -> dict:
    """Train ``arch`` one step through :func:`train`; the saved model's checkpoint."""
    params = ModelParams(arch=arch, target=target, **({arch: sizes} if arch in TINY else {}))
    summary = train(features, params, STEP, tmp_path / "ckpt", tmp_path / "model.pt", tmp_path / "train.json",
                    tmp_path / "train_curve.csv")
    assert summary["epochs"] == 1 and np.isfinite(summary["best_valid_loss"])
    return load_checkpoint(tmp_path / "model.pt")


def exercise(payload: dict, spec: Architecture, tmp_path) -> None:
    """Rebuild without params, enhance, then stream and export as declared."""
    rebuilt = model_from_checkpoint(payload)  # arch, model_config, bins, target: nothing from params.yaml
    assert isinstance(rebuilt, spec.model)
    assert getattr(rebuilt, "output_kind", spec.output_kind(payload["target"])) == spec.output_kind(payload["target"])
    enhancer = Enhancer(payload)
    noisy = noisy_speech()
    out = enhancer.enhance(noisy)
    assert out.shape == noisy.shape and np.isfinite(out).all() and np.abs(out - noisy).max() > 1e-5
    if spec.stream is not None:
        streamer = StreamingEnhancer(enhancer, channels=1)
        pieces = [streamer.process(noisy[i:i + 300, None]) for i in range(0, len(noisy), 300)]
        streamed = np.concatenate([*pieces, streamer.flush()])[:, 0]
        assert np.abs(streamed - out).max() < 1e-4
    else:
        with pytest.raises(StreamingError, match="not causal"):
            StreamingEnhancer(enhancer, channels=1)
    if spec.onnx:
        meta = export_onnx(payload, tmp_path / "m.onnx")
        session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        waves = np.stack([noisy, noisy[::-1].copy()])
        assert np.abs(onnx_enhance(session, meta, waves) - enhancer.enhance(waves)).max() < 1e-4
    else:
        with pytest.raises(ValueError, match=f"{spec.name} is a {spec.front_end} model"):
            export_onnx(payload, tmp_path / "m.onnx")


def test_every_architecture_has_tiny_sizes_here():
    assert sorted(TINY) == sorted(REGISTRY)
    assert all(name == spec.name for name, spec in REGISTRY.items())
    assert set(streamable()) == {"crn", "rced"}


@pytest.mark.parametrize(("arch", "target"), CASES)
def test_every_declared_capability(feature_store, tmp_path, arch, target):
    features, _ = feature_store
    spec = REGISTRY[arch]
    payload = trained(features, tmp_path, arch, target, TINY[arch])
    assert payload["arch"] == arch and payload["target"] == spec.target_for(target)
    exercise(payload, spec, tmp_path)


def test_segan_last_checkpoint_keeps_its_discriminator(feature_store, tmp_path):
    features, _ = feature_store
    trained(features, tmp_path, "segan", "waveform", TINY["segan"])
    assert {"discriminator_state", "optimizer_d_state"} <= set(load_checkpoint(*(tmp_path / "ckpt").glob("*/last.pt")))


# ------------------------------------------------------------- a sixth architecture: one file's worth
@dataclasses.dataclass(frozen=True)
class GainConfig:
    """The ``model.gain`` section: nothing to set."""

    init: float = 0.5


class Gain(nn.Module):
    """A per-bin gain on each frame, a mask in [0, 1]: ``(batch, frames, bins)`` -> same shape."""

    def __init__(self, config: GainConfig, bins: int, target: str) -> None:
        super().__init__()
        self.config, self.bins, self.target = config, bins, target
        self.weight = nn.Parameter(torch.full((bins,), config.init))
        self.bias = nn.Parameter(torch.zeros(bins))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(features * self.weight + self.bias)


class GainStream:
    """Frame by frame: no state at all."""

    def __init__(self, model: Gain) -> None:
        self.model = model

    def reset(self, batch: int) -> None:
        pass

    def step(self, frame: torch.Tensor) -> torch.Tensor:
        return self.model(frame)


GAIN = Architecture(name="gain", config=GainConfig, model=Gain, front_end=STORED, targets={"irm": "mask"},
                    task=SPECTRAL, stream=GainStream, onnx=True)


def test_a_sixth_architecture_is_one_object_and_one_registry_entry(feature_store, tmp_path, monkeypatch):
    features, _ = feature_store
    monkeypatch.setitem(models.REGISTRY, "gain", GAIN)
    payload = trained(features, tmp_path, "gain", "irm", {})
    assert payload["arch"] == "gain" and payload["model_config"] == {"init": 0.5}
    assert not torch.equal(payload["model_state"]["bias"], torch.zeros(payload["bins"]))  # it trained
    exercise(payload, GAIN, tmp_path)
    assert "gain" in streamable()
    with pytest.raises(ValueError, match="model.target: must be one of"):
        ModelParams(arch="gain", target="mapping")
