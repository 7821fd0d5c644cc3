"""What every peer adapter shares: the interface, fixed-size framing, shipped files, ONNX sessions.

A peer wraps one installed denoiser. Signals are float32 mono ``(samples,)`` at the peer's
native ``rate``; :meth:`Peer.enhance` returns the same layout (its length may differ: the
runner aligns and crops). Peer libraries are imported inside the adapters' constructors, so
importing this package never needs the ``peers`` extra.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from clearspeech.core.errors import UserError


class PeerUnavailable(UserError, RuntimeError):
    """The peer's package is not installed (``uv sync --extra peers``) or lacks a shipped file."""


class Peer:
    """One denoiser. Subclasses set the class attributes and implement :meth:`enhance`.

    Latency (input sample to output sample, compute time aside): a streaming peer that delays its
    output sets ``frame_ms``, the audio it buffers before it can process, and its latency is
    ``frame_ms`` plus the delay the runner measures; a peer whose wrapper realigns its output
    states its design latency in ``latency_ms``; neither set means it needs the whole signal.
    ``latency_note`` says where the number comes from.
    ``flush_ms``: zeros appended to the input so a streaming peer's delayed output still covers
    the whole signal (the runner crops them away after delay compensation).
    """

    name: str = ""
    package: str = ""
    rate: int = 16000
    latency_ms: float | None = None
    frame_ms: float | None = None
    latency_note: str = ""
    flush_ms: float = 0.0

    def latency(self, delay_ms: float) -> float | None:
        """Algorithmic latency in ms given the measured output delay; None for whole-signal peers."""
        if self.frame_ms is not None:
            return self.frame_ms + delay_ms
        return self.latency_ms

    def reset(self) -> None:
        """Fresh state before each file; not timed (streaming peers keep state across frames)."""

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        """``(samples,)`` float32 at ``self.rate`` -> enhanced ``(samples',)`` float32."""
        raise NotImplementedError


def require(module: str, package: str):
    """Import ``module`` or raise :class:`PeerUnavailable` naming the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise PeerUnavailable(f"{package} is not installed ({err}); run `uv sync --extra peers`") from err


def shipped_file(package_module: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing (running) the package."""
    spec = importlib.util.find_spec(package_module)
    if spec is None or not spec.submodule_search_locations:
        raise PeerUnavailable(f"{package_module} is not installed; run `uv sync --extra peers`")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise PeerUnavailable(f"{path}: the file shipped with {package_module} is missing")
    return path


def onnx_session(path: Path):
    """An onnxruntime CPU session on one thread (RTF is reported for one CPU thread)."""
    ort = require("onnxruntime", "onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def by_frames(wave: np.ndarray, size: int, process: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Run a fixed-frame processor over ``wave`` ``(samples,)``: the last frame is zero-padded and
    the output cut back to ``len(wave)``. ``process``: ``(size,)`` -> ``(size,)``."""
    padded = np.pad(wave, (0, -len(wave) % size))
    out = [process(padded[start:start + size]) for start in range(0, len(padded), size)]
    return np.concatenate(out)[: len(wave)].astype(np.float32) if out else wave.astype(np.float32)


def to_pcm16(wave: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1] -> int16 (clipped: 16-bit peers cannot take more)."""
    return np.round(np.clip(wave, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def from_pcm16(pcm: np.ndarray) -> np.ndarray:
    return (pcm.astype(np.float32) / 32768).astype(np.float32)
