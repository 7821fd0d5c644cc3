"""The features stage: log-magnitude STFTs of every mixture, memory-mappable, plus train stats.

Layout of ``<out>``:

- ``stft.json``: the STFT settings and log floor (all that reconstruction needs; the phase is
  that of the noisy waveform, recomputed with :func:`clearspeech.core.stft.stft`).
- ``stats.json``: per-bin mean and standard deviation of noisy and clean log-magnitudes over the
  *train* split only.
- ``<split>/noisy.npy``, ``<split>/clean.npy``: every utterance's frames concatenated, shape
  ``(total_frames, bins)``, opened with ``np.load(..., mmap_mode="r")``.
- ``<split>/noisy_wave.npy``, ``<split>/clean_wave.npy``: the waveforms themselves, concatenated,
  shape ``(total_samples,)``, so that architectures with another front end (another STFT, frame
  context, or the raw waveform) compute their inputs on the fly on the training device without
  parsing a wav. In ``dtype`` like the spectra: float16 keeps about 66 dB of signal-to-rounding
  ratio, far below the noise the models remove; float32 stores them exactly.
- ``<split>/index.csv``: one row per mixture with its ``start`` row and ``frames`` in the
  spectra, its ``sample_start`` and ``samples`` in the waveforms, and the paths of its wavs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from clearspeech.core.audio import AudioError, read_audio, to_mono
from clearspeech.core.config import above, at_least, at_most, one_of, validate
from clearspeech.core.files import atomic_dir, write_text_atomic
from clearspeech.core.manifest import read_manifest, write_manifest
from clearspeech.core.parallel import ordered_map
from clearspeech.core.stft import WINDOWS, SpectralFrontEnd, StftParams
from clearspeech.data.split import SPLITS

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FeaturesConfig(StftParams):
    """The ``features`` section of ``params.yaml``: the STFT settings plus storage options."""

    floor: float = 1e-5
    dtype: str = "float16"
    workers: int = 0

    def __post_init__(self) -> None:
        validate(self, "features", n_fft=at_least(2), hop=(above(0), at_most(self.n_fft)), window=one_of(WINDOWS),
                 sample_rate=above(0), floor=above(0), dtype=one_of(("float16", "float32")), workers=at_least(0))
        super().__post_init__()

    @property
    def stft_params(self) -> StftParams:
        """The STFT part alone (what a checkpoint or stft.json needs to rebuild the front end)."""
        return StftParams(self.n_fft, self.hop, self.window, self.sample_rate)


@dataclasses.dataclass(frozen=True)
class FeatureSplit:
    """One split of the store, memory-mapped: spectra ``(total_frames, bins)``, waveforms
    ``(total_samples,)`` and their index."""

    noisy: np.ndarray
    clean: np.ndarray
    index: pd.DataFrame
    noisy_wave: np.ndarray
    clean_wave: np.ndarray


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
            split_stats = _write_split(rows, cfg, staging / split)
            if split == "train":
                stats = split_stats.finish()
        write_text_atomic(staging / "stats.json", json.dumps(stats, indent=1))
        meta = dataclasses.asdict(params) | {"floor": cfg.floor, "dtype": cfg.dtype, "bins": params.bins}
        write_text_atomic(staging / "stft.json", json.dumps(meta, indent=1))
    return stats


def _write_split(rows: pd.DataFrame, cfg: FeaturesConfig, dest: Path) -> BinStats:
    """Fill one split's arrays; returns the statistics of its stored spectra."""
    bins = cfg.stft_params.bins
    starts = np.concatenate(([0], np.cumsum(rows["frames"].to_numpy())[:-1]))
    sample_starts = np.concatenate(([0], np.cumsum(rows["samples"].to_numpy())[:-1]))
    dest.mkdir(parents=True)
    total, total_samples = int(rows["frames"].sum()), int(rows["samples"].sum())
    shapes = {"noisy": (total, bins), "clean": (total, bins), "noisy_wave": (total_samples,),
              "clean_wave": (total_samples,)}
    arrays = {kind: np.lib.format.open_memmap(dest / f"{kind}.npy", mode="w+", dtype=cfg.dtype, shape=shape)
              for kind, shape in shapes.items()}
    stats = BinStats(bins)
    jobs = [(row["noisy_path"], row["clean_path"], cfg) for row in rows.to_dict("records")]
    results = ordered_map(_utterance_features, jobs, cfg.workers)
    progress = tqdm(zip(starts, sample_starts, results), total=len(jobs), desc=f"features {dest.name}", unit="mix")
    for start, sample_start, (spectra, waves) in progress:
        for kind, wave in zip(("noisy_wave", "clean_wave"), waves):
            arrays[kind][sample_start:sample_start + len(wave)] = wave
        for kind, values in zip(("noisy", "clean"), spectra):
            arrays[kind][start:start + len(values)] = values
        stats.add(*(values.astype(np.float64) for values in spectra))
    for array in arrays.values():
        array.flush()
    index = rows[["id", "split", "speaker", "noise", "snr", "samples", "frames", "noisy_path", "clean_path"]]
    write_manifest(index.assign(start=starts, sample_start=sample_starts), dest / "index.csv")
    return stats


def _utterance_features(job: tuple[str, str, FeaturesConfig]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Noisy and clean log-magnitudes of one mixture, each ``(frames, bins)``, and its noisy and
    clean waveforms, each ``(samples,)``, all in cfg.dtype."""
    *paths, cfg = job
    spectra, waves = [], []
    front = SpectralFrontEnd(cfg.stft_params, cfg.floor)
    for path in paths:
        data, rate = read_audio(path)
        if rate != cfg.sample_rate:
            raise AudioError(f"{path}: sample rate {rate} Hz, features.sample_rate is {cfg.sample_rate} Hz")
        wave = to_mono(data)
        spectra.append(front.log_spectra(torch.from_numpy(wave)).numpy().astype(cfg.dtype))
        waves.append(wave.astype(cfg.dtype))
    return spectra, waves


class BinStats:
    """Per-bin mean and standard deviation of noisy and clean log-magnitudes (``stats.json``),
    from running float64 sums: the one statistics function of the features stage and of the
    on-the-fly front ends."""

    def __init__(self, bins: int) -> None:
        self.sums = {f"{kind}_{stat}": np.zeros(bins) for kind in ("noisy", "clean") for stat in ("sum", "sumsq")}
        self.frames = 0

    def add(self, noisy: np.ndarray, clean: np.ndarray) -> None:
        """One mixture's float64 log-magnitudes, each ``(frames, bins)``."""
        for kind, values in (("noisy", noisy), ("clean", clean)):
            self.sums[f"{kind}_sum"] += values.sum(axis=0)
            self.sums[f"{kind}_sumsq"] += np.square(values).sum(axis=0)
        self.frames += len(noisy)

    def finish(self) -> dict:
        """``train_frames`` and ``<kind>_mean`` / ``<kind>_std`` lists for ``noisy`` and ``clean``."""
        stats = {"train_frames": int(self.frames)}
        for kind in ("noisy", "clean"):
            mean = self.sums[f"{kind}_sum"] / self.frames
            var = np.maximum(self.sums[f"{kind}_sumsq"] / self.frames - mean**2, 1e-12)
            stats[f"{kind}_mean"] = mean.tolist()
            stats[f"{kind}_std"] = np.sqrt(var).tolist()
        return stats


def load_split(features_dir: str | Path, split: str) -> FeatureSplit:
    """Open one split of a feature store without reading it into memory."""
    folder = Path(features_dir) / split
    return FeatureSplit(
        noisy=np.load(folder / "noisy.npy", mmap_mode="r"),
        clean=np.load(folder / "clean.npy", mmap_mode="r"),
        index=read_manifest(folder / "index.csv", required=("id", "start", "frames", "sample_start", "samples")),
        noisy_wave=np.load(folder / "noisy_wave.npy", mmap_mode="r"),
        clean_wave=np.load(folder / "clean_wave.npy", mmap_mode="r"),
    )
