"""The synthesize stage: every split utterance x every noise x every SNR.

Noise recordings are resampled to the target rate, down-mixed and concatenated per noise into a
timeline. In ``region`` mode each split draws its segments (seeded offsets) from its own part of
the timeline (train / valid / test regions, default 60/20/20), so test noise is never heard in
training. ``start`` mode reproduces the reference study: noise from the start, cut to length.

Outputs ``<out>/<split>/noisy/<id>.wav``, ``<out>/<split>/clean/<id>.wav`` (32-bit float, so
nothing is quantised or clipped) and ``<out>/manifest.csv``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from clearspeech.core.audio import load_mono, write_audio
from clearspeech.core.config import above, at_least, at_most, non_empty, one_of, validate
from clearspeech.core.files import atomic_dir
from clearspeech.core.manifest import read_manifest, write_manifest
from clearspeech.core.parallel import ordered_map
from clearspeech.data.mixing import measured_snr, mix, noise_segment, region_bounds
from clearspeech.data.split import SPLITS

log = logging.getLogger(__name__)

NOISE_MODES = ("region", "start")


@dataclasses.dataclass(frozen=True)
class SynthesizeConfig:
    """The ``synthesize`` section of ``params.yaml``."""

    snrs: tuple[float, ...] = (15.0, 20.0, 25.0)
    sample_rate: int = 16000
    noise_segment: str = "region"
    regions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    peak: float = 0.99
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        validate(self, "synthesize", snrs=non_empty, sample_rate=above(0), noise_segment=one_of(NOISE_MODES),
                 regions=above(0), peak=(above(0), at_most(1)), seed=at_least(0), workers=at_least(0))


def load_noises(raw: pd.DataFrame, rate: int) -> dict[str, np.ndarray]:
    """One mono timeline per noise at ``rate``: its recordings in manifest order, concatenated."""
    noise_rows = raw[raw["kind"] == "noise"]
    return {
        name: np.concatenate([load_mono(path, rate) for path in group["path"]])
        for name, group in tqdm(noise_rows.groupby("noise", sort=False), desc="load noise", unit="noise")
    }


# Per-worker copy of the noise timelines, installed once by the pool initializer: forked workers
# share the arrays instead of receiving ~100 MB pickled with every task.
_TIMELINES: dict[str, np.ndarray] = {}


def _install_timelines(timelines: dict[str, np.ndarray]) -> None:
    _TIMELINES.clear()
    _TIMELINES.update(timelines)


def synthesize(split: pd.DataFrame, raw: pd.DataFrame, cfg: SynthesizeConfig, out_dir: str | Path) -> pd.DataFrame:
    """Write all mixtures of the split utterances and the manifest; returns the manifest."""
    timelines = load_noises(raw, cfg.sample_rate)
    out_dir = Path(out_dir)
    rows: list[dict] = []
    with atomic_dir(out_dir) as staging:
        jobs = [(row, cfg, staging) for row in split.to_dict("records")]
        results = ordered_map(_render_utterance, jobs, cfg.workers, _install_timelines, (timelines,))
        for utterance_rows in tqdm(results, total=len(jobs), desc="synthesize", unit="utt"):
            rows.extend(utterance_rows)
        write_manifest(pd.DataFrame(rows), staging / "manifest.csv")
    manifest = read_manifest(out_dir / "manifest.csv")
    log.info("mixtures per split: %s", manifest.groupby("split").size().to_dict())
    return manifest


def _render_utterance(job: tuple[dict, SynthesizeConfig, Path]) -> list[dict]:
    """All noise x SNR mixtures of one utterance (the clean file is read once)."""
    row, cfg, out_dir = job
    clean = load_mono(row["path"], cfg.sample_rate)
    split_index = SPLITS.index(row["split"])
    rows = []
    for name, timeline in _TIMELINES.items():
        for snr in cfg.snrs:
            # One generator per mixture, keyed by its identity: results do not depend on
            # worker scheduling or on which other mixtures are made.
            key = [cfg.seed, *f"{row['utterance_id']}|{name}|{snr:g}".encode()]
            offset, segment = _pick_noise(timeline, len(clean), split_index, cfg, np.random.default_rng(key))
            mixture = mix(clean, segment, snr, cfg.peak)
            mix_id = f"{row['utterance_id']}_{name}_{snr:g}dB"
            noisy_path = out_dir / row["split"] / "noisy" / f"{mix_id}.wav"
            clean_path = out_dir / row["split"] / "clean" / f"{mix_id}.wav"
            write_audio(noisy_path, mixture.noisy, cfg.sample_rate, "FLOAT")
            write_audio(clean_path, mixture.clean, cfg.sample_rate, "FLOAT")
            rows.append({
                "id": mix_id, "split": row["split"], "utterance_id": row["utterance_id"],
                "speaker": row["speaker"], "noise": name, "snr": snr,
                "measured_snr": measured_snr(mixture.noisy, mixture.clean),
                "offset": offset, "gain": mixture.gain, "scale": mixture.scale,
                "samples": len(clean), "noisy_path": str(noisy_path), "clean_path": str(clean_path),
            })
    return rows


def _pick_noise(timeline: np.ndarray, length: int, split_index: int, cfg: SynthesizeConfig,
                rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """The noise segment for one mixture and its offset in the timeline."""
    if cfg.noise_segment == "start":
        return 0, noise_segment(timeline, length, 0, len(timeline), 0)
    start, end = region_bounds(len(timeline), cfg.regions, split_index)
    offset = int(rng.integers(start, max(start, end - length) + 1))
    return offset, noise_segment(timeline, length, start, end, offset)


def summarize(manifest: pd.DataFrame, sample_rate: int) -> dict:
    """Counts and SNR accuracy of a mixture manifest, for ``dvc metrics``."""
    error = (manifest["measured_snr"] - manifest["snr"]).abs()
    return {
        "mixtures": len(manifest),
        **{f"{split}_mixtures": int((manifest["split"] == split).sum()) for split in SPLITS},
        "noises": int(manifest["noise"].nunique()),
        "hours": float(manifest["samples"].sum() / sample_rate / 3600),
        "max_snr_error_db": float(error.max()),
        "scaled_mixtures": int((manifest["scale"] < 1.0).sum()),
    }

