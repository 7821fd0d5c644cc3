"""Shared fixtures: generated audio on disk and the real corpora in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clearspeech import synthetic
from clearspeech.audio import write_audio

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real CMU ARCTIC + noise copy beside the repository, or a skip saying why."""
    if not (SHARED_DATA / "arctic").is_dir():
        pytest.skip(f"real audio not found at {SHARED_DATA} (the ../shared/data copy described in README)")
    return SHARED_DATA


def write_local_copy(root: Path, utterances: int = 6, seconds: float | None = None, noise_rate: int = 22050) -> Path:
    """A small local corpus in the layout of ../shared/data, from the demo generator.

    Two ARCTIC-style speakers (``bdl``, ``slt``), a ``noise/hum/`` folder of two stereo files at
    ``noise_rate`` and a DEMAND-style ``DEMAND/DTEST/ch01.wav``.
    """
    for speaker, voice in (("bdl", "demo_male"), ("slt", "demo_female")):
        for index in range(utterances):
            signal = synthetic.utterance(voice, index, seed=1)
            if seconds is not None:
                signal = signal[: int(seconds * synthetic.SAMPLE_RATE)]
            path = root / "arctic" / f"cmu_us_{speaker}_arctic" / "wav" / f"arctic_a{index + 1:04d}.wav"
            write_audio(path, signal, synthetic.SAMPLE_RATE, "PCM_16")
    for index, kind in enumerate(synthetic.NOISE_KINDS[:2]):
        mono = synthetic.noise(kind, 20.0, seed=index, rate=noise_rate)
        write_audio(root / "noise" / "hum" / f"part{index}.wav", np.stack([mono, 0.5 * mono], axis=1), noise_rate, "PCM_16")
    demand = synthetic.noise(synthetic.NOISE_KINDS[2], 30.0, seed=3)
    write_audio(root / "DEMAND" / "DTEST" / "ch01.wav", demand, synthetic.SAMPLE_RATE, "PCM_16")
    return root
