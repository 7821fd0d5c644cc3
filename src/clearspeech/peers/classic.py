"""Classical peers: WebRTC and Speex noise suppression, the log-MMSE package, spectral gating.

WebRTC and Speex stream 10 ms frames of 160 samples at 16 kHz; the other two take a whole
signal. Settings are the packages' documented ones, stated on each class.
"""

from __future__ import annotations

import numpy as np

from clearspeech.peers.base import Peer, by_frames, from_pcm16, require, to_pcm16

FRAME_10MS = 160


class WebRtcNS(Peer):
    """WebRTC noise suppression (``pywebrtc-audio``) at level 2 of 0-3 (18 dB, "high")."""

    name, package, rate = "webrtc_ns", "pywebrtc-audio", 16000
    frame_ms, latency_note = 10.0, "10 ms frame + measured delay"
    flush_ms = 30.0
    LEVEL = 2

    def __init__(self) -> None:
        self._module = require("pywebrtc_audio", self.package)
        self._suppressor = None

    def reset(self) -> None:
        self._suppressor = self._module.NoiseSuppressor(self.rate, 1, level=self.LEVEL)

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        return by_frames(wave.astype(np.float32), FRAME_10MS, self._suppressor.process)


class SpeexNS(Peer):
    """Speex preprocessor denoising (``pyspeex-noise``), -30 dB suppression, automatic gain off
    (``auto_gain=0``, so levels are not changed behind the metrics' back)."""

    name, package, rate = "speex_ns", "pyspeex-noise", 16000
    frame_ms, latency_note = 10.0, "10 ms frame + measured delay"
    flush_ms = 30.0
    SUPPRESS_DB = -30

    def __init__(self) -> None:
        self._module = require("pyspeex_noise", self.package)
        self._processor = None

    def reset(self) -> None:
        self._processor = self._module.AudioProcessor(0, self.SUPPRESS_DB)

    def _frame(self, frame: np.ndarray) -> np.ndarray:
        return np.frombuffer(self._processor.process_10ms(frame.astype("<i2").tobytes()), dtype="<i2")

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        return from_pcm16(by_frames(to_pcm16(wave), FRAME_10MS, self._frame))


class LogMmsePackage(Peer):
    """The ``logmmse`` package (Ephraim-Malah log-spectral amplitude, after Loizou's logmmse.m).

    Importing it runs ``np.seterr('raise')`` for the whole process; the runner gives every peer
    its own process, and the previous error state is put back right after the import anyway.
    """

    name, package, rate = "logmmse_pkg", "logmmse", 16000
    latency_ms, latency_note = None, "whole signal: noise estimated from its first frames"

    def __init__(self) -> None:
        errors = np.geterr()
        try:
            self._module = require("logmmse", self.package)
        finally:
            np.seterr(**errors)

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        # float32 in, float32 out (the package rescales integer input); it drops the last partial frame.
        return np.asarray(self._module.logmmse(wave.astype(np.float32), self.rate), dtype=np.float32).reshape(-1)


class NoiseReduce(Peer):
    """Spectral gating (``noisereduce``), its default non-stationary mode."""

    name, package, rate = "noisereduce", "noisereduce", 16000
    latency_ms, latency_note = None, "whole signal: non-stationary noise floor smoothed over 2 s"

    def __init__(self) -> None:
        self._module = require("noisereduce", self.package)

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        return np.asarray(self._module.reduce_noise(y=wave, sr=self.rate), dtype=np.float32)
