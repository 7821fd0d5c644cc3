"""The features stage: log-magnitude STFTs of every mixture, memory-mappable, plus train stats.

Layout of ``<out>``:

- ``stft.json``: the STFT settings and log floor (all that reconstruction needs; the phase is
  that of the noisy waveform, recomputed with :func:`clearspeech.stft.stft`).
- ``stats.json``: per-bin mean and standard deviation of noisy and clean log-magnitudes over the
  *train* split only.
- ``<split>/noisy.npy``, ``<split>/clean.npy``: every utterance's frames concatenated, shape
  ``(total_frames, bins)``, opened with ``np.load(..., mmap_mode="r")``.
- ``<split>/index.csv``: one row per mixture with its ``start`` row and ``frames`` in those
  arrays, its ``samples`` and the paths of its wavs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from clearspeech.audio import AudioError, read_audio, to_mono
from clearspeech.fsutil import atomic_dir, write_text_atomic
from clearspeech.manifest import read_manifest, write_manifest
from clearspeech.parallel import ordered_map
from clearspeech.split import SPLITS
from clearspeech.stft import StftParams, log_spectrogram

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FeaturesConfig(StftParams):
    """The ``features`` section of ``params.yaml``: the STFT settings plus storage options."""

    floor: float = 1e-5
    dtype: str = "float16"
    workers: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dtype not in ("float16", "float32"):
            raise ValueError(f"features.dtype must be float16 or float32, not {self.dtype!r}")

    @property
    def stft_params(self) -> StftParams:
        """The STFT part alone (what a checkpoint or stft.json needs to rebuild the front end)."""
        return StftParams(self.n_fft, self.hop, self.window, self.sample_rate)


@dataclasses.dataclass(frozen=True)
class FeatureSplit:
    """One split of the store: memory-mapped arrays ``(total_frames, bins)`` and their index."""

    noisy: np.ndarray
    clean: np.ndarray
    index: pd.DataFrame


def extract_features(manifest: pd.DataFrame, cfg: FeaturesConfig, out_dir: str | Path) -> dict:
    """Compute and store the features of every mixture in ``manifest``; returns the stats."""
    params = cfg.stft_params
    manifest = manifest.assign(frames=[params.frames(n) for n in manifest["samples"]])
    with atomic_dir(out_dir) as staging:
        stats = None
        for split in SPLITS:
            rows = manifest[manifest["split"] == split].reset_index(drop=True)
            if rows.empty:
                raise ValueError(f"the mixture manifest has no {split} rows")
            sums = _write_split(rows, cfg, staging / split)
            if split == "train":
                stats = _finish_stats(sums)
        write_text_atomic(staging / "stats.json", json.dumps(stats, indent=1))
        meta = dataclasses.asdict(params) | {"floor": cfg.floor, "dtype": cfg.dtype, "bins": params.bins}
        write_text_atomic(staging / "stft.json", json.dumps(meta, indent=1))
    return stats


def _write_split(rows: pd.DataFrame, cfg: FeaturesConfig, dest: Path) -> dict[str, np.ndarray]:
    """Fill one split's arrays; returns float64 per-bin sums and squared sums for the stats."""
    bins = cfg.stft_params.bins
    starts = np.concatenate(([0], np.cumsum(rows["frames"].to_numpy())[:-1]))
    dest.mkdir(parents=True)
    total = int(rows["frames"].sum())
    arrays = {
        kind: np.lib.format.open_memmap(dest / f"{kind}.npy", mode="w+", dtype=cfg.dtype, shape=(total, bins))
        for kind in ("noisy", "clean")
    }
    sums = {f"{kind}_{stat}": np.zeros(bins) for kind in arrays for stat in ("sum", "sumsq")}
    sums["frames"] = total
    jobs = [(row["noisy_path"], row["clean_path"], cfg) for row in rows.to_dict("records")]
    results = ordered_map(_utterance_features, jobs, cfg.workers)
    for start, pair in tqdm(zip(starts, results), total=len(jobs), desc=f"features {dest.name}", unit="mix"):
        for kind, values in zip(("noisy", "clean"), pair):
            arrays[kind][start:start + len(values)] = values
            stored = values.astype(np.float64)
            sums[f"{kind}_sum"] += stored.sum(axis=0)
            sums[f"{kind}_sumsq"] += np.square(stored).sum(axis=0)
    for array in arrays.values():
        array.flush()
    index = rows[["id", "split", "speaker", "noise", "snr", "samples", "frames", "noisy_path", "clean_path"]]
    write_manifest(index.assign(start=starts), dest / "index.csv")
    return sums


def _utterance_features(job: tuple[str, str, FeaturesConfig]) -> tuple[np.ndarray, np.ndarray]:
    """Noisy and clean log-magnitudes of one mixture, each ``(frames, bins)`` in cfg.dtype."""
    *paths, cfg = job
    out = []
    for path in paths:
        data, rate = read_audio(path)
        if rate != cfg.sample_rate:
            raise AudioError(f"{path}: sample rate {rate} Hz, features.sample_rate is {cfg.sample_rate} Hz")
        out.append(log_spectrogram(to_mono(data), cfg.stft_params, cfg.floor).astype(cfg.dtype))
    return out[0], out[1]


def _finish_stats(sums: dict) -> dict:
    """Mean and standard deviation per bin from running sums."""
    stats = {"train_frames": int(sums["frames"])}
    for kind in ("noisy", "clean"):
        mean = sums[f"{kind}_sum"] / sums["frames"]
        var = np.maximum(sums[f"{kind}_sumsq"] / sums["frames"] - mean**2, 1e-12)
        stats[f"{kind}_mean"] = mean.tolist()
        stats[f"{kind}_std"] = np.sqrt(var).tolist()
    return stats


def load_split(features_dir: str | Path, split: str) -> FeatureSplit:
    """Open one split of a feature store without reading it into memory."""
    folder = Path(features_dir) / split
    return FeatureSplit(
        noisy=np.load(folder / "noisy.npy", mmap_mode="r"),
        clean=np.load(folder / "clean.npy", mmap_mode="r"),
        index=read_manifest(folder / "index.csv", required=("id", "start", "frames", "samples")),
    )
