"""Shared fixtures: generated audio on disk and the real corpora in ../shared/data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from clearspeech.core.audio import write_audio
from clearspeech.core.config import from_mapping
from clearspeech.core.stft import StftParams, istft, stft
from clearspeech.data import demo
from clearspeech.data.features import FeaturesConfig, extract_features
from clearspeech.data.mixing import mix
from clearspeech.models import architecture, build_model
from clearspeech.models.checkpoint import save_checkpoint

# Tiny models run fastest on one thread; two oversubscribe this 2-core machine (and CI's).
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
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
            signal = demo.utterance(voice, index, seed=1)
            if seconds is not None:
                signal = signal[: int(seconds * demo.SAMPLE_RATE)]
            path = root / "arctic" / f"cmu_us_{speaker}_arctic" / "wav" / f"arctic_a{index + 1:04d}.wav"
            write_audio(path, signal, demo.SAMPLE_RATE, "PCM_16")
    for index, kind in enumerate(demo.NOISE_KINDS[:2]):
        mono = demo.noise(kind, 20.0, seed=index, rate=noise_rate)
        stereo = np.stack([mono, 0.5 * mono], axis=1)
        write_audio(root / "noise" / "hum" / f"part{index}.wav", stereo, noise_rate, "PCM_16")
    demand = demo.noise(demo.NOISE_KINDS[2], 30.0, seed=3)
    write_audio(root / "DEMAND" / "DTEST" / "ch01.wav", demand, demo.SAMPLE_RATE, "PCM_16")
    return root


def real_noisy_speech(shared: Path, seconds: float, snr: float = 10.0, rate: int = 16000) -> np.ndarray:
    """ARCTIC utterances (both speakers, alternating) in kitchen noise, ``(samples,)`` float32 at ``rate``."""
    from clearspeech.core.audio import load_mono

    wavs = [sorted((shared / "arctic" / f"cmu_us_{s}_arctic" / "wav").glob("*.wav")) for s in ("bdl", "slt")]
    parts, total = [], 0
    for index in range(len(wavs[0])):
        parts.append(load_mono(wavs[index % 2][index], rate))
        total += len(parts[-1])
        if total >= seconds * rate:
            break
    speech = np.concatenate(parts)[: int(seconds * rate)]
    noise = np.resize(load_mono(min((shared / "noise" / "kitchen").iterdir()), rate), len(speech))
    return mix(speech, noise, snr).noisy


TINY_CRNN = {"channels": 4, "kernel_freq": 32, "kernel_time": 3, "stride_freq": 16, "rnn_hidden": 8,
             "rnn_layers": 1, "dropout": 0.0}


def write_checkpoint(path: Path, seed: int = 0, target: str = "irm", arch: str = "crnn",
                     config: dict | None = None, stats: tuple[float, float] = (0.0, 1.0)) -> Path:
    """A loadable checkpoint with random weights (``seed`` makes distinct files): the tiny CRNN
    by default, or spectral ``arch`` with ``config`` over its defaults (its own STFT). ``stats``:
    the per-bin (mean, std) of every standardisation."""
    torch.manual_seed(seed)
    spec = architecture(arch)
    config = dataclasses.asdict(from_mapping(spec.config, TINY_CRNN if arch == "crnn" else config or {}))
    params = spec.stft(config, 16000) or StftParams()
    save_checkpoint(path, {
        "arch": arch, "model_config": config, "bins": params.bins, "target": target,
        "stft": {**dataclasses.asdict(params), "floor": 1e-5},
        "stats": {f"{kind}_{stat}": [stats[stat == "std"]] * params.bins
                  for kind in ("noisy", "clean") for stat in ("mean", "std")},
        "model_state": build_model(arch, config, params.bins, target).state_dict(),
    })
    return path


def onnx_enhance(session, meta: dict, waves: np.ndarray) -> np.ndarray:
    """What a runtime does with the metadata: STFT, the graph on the magnitude, iSTFT with the noisy phase."""
    params = StftParams(meta["n_fft"], meta["hop"], meta["window"].removeprefix("periodic "), meta["sample_rate"])
    spec = stft(torch.from_numpy(waves), params)
    magnitude = session.run([meta["output"]], {meta["input"]: spec.abs().numpy()})[0]
    rebuilt = torch.polar(torch.from_numpy(magnitude), torch.angle(spec))
    return istft(rebuilt, params, waves.shape[-1]).numpy()


SPLIT_OF = ("train", "train", "train", "train", "valid", "valid", "test", "test")


def write_mixtures(root: Path, count: int = 8) -> pd.DataFrame:
    """Generated noisy/clean float wavs at 20 dB SNR and their manifest (splits by ``SPLIT_OF``)."""
    rows = []
    for i in range(count):
        clean = demo.utterance("demo_female" if i % 2 else "demo_male", i, seed=0)
        noise = demo.noise(demo.NOISE_KINDS[i % 3], len(clean) / demo.SAMPLE_RATE, seed=i)
        result = mix(clean, noise[: len(clean)], 20.0)
        split = SPLIT_OF[i % len(SPLIT_OF)]
        paths = {kind: root / split / kind / f"m{i}.wav" for kind in ("noisy", "clean")}
        write_audio(paths["noisy"], result.noisy, demo.SAMPLE_RATE)
        write_audio(paths["clean"], result.clean, demo.SAMPLE_RATE)
        rows.append({"id": f"m{i}", "split": split, "speaker": "s", "noise": demo.NOISE_KINDS[i % 3],
                     "snr": 20.0, "samples": len(clean), "noisy_path": str(paths["noisy"]),
                     "clean_path": str(paths["clean"])})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def feature_store(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A small feature store (8 generated mixtures) and its mixture manifest."""
    root = tmp_path_factory.mktemp("store")
    manifest = write_mixtures(root / "mixtures")
    extract_features(manifest, FeaturesConfig(workers=1), root / "features")
    return root / "features", manifest


@pytest.fixture(scope="session")
def registered_model(tmp_path_factory) -> dict[str, str]:
    """A tiny checkpoint registered as ``clearspeech-test`` v1 (``champion``) in its own sqlite store.

    Keys: ``uri`` (tracking URI), ``name``, ``run_id``, ``checkpoint``. Creating the store takes ~8 s,
    so the session shares one; tests point ``MLFLOW_TRACKING_URI`` at it themselves.
    """
    import os

    from clearspeech.tracking import store

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root}/mlflow.db"
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        store.configure(root)
        checkpoint = write_checkpoint(root / "model.pt", seed=7)
        run_id = store.start_train_run("registry-test", None, {}, {})
        store.register_model(run_id, checkpoint, "clearspeech-test", {"arch": "crnn"}, 2.0)
        store.finish(run_id)
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI")
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before
    return {"uri": uri, "name": "clearspeech-test", "run_id": run_id, "checkpoint": str(checkpoint)}
