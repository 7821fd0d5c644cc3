"""The download stage: gather the speech and noise corpora into ``data/raw`` with a manifest.

Three sources (``DownloadConfig.source``):

- ``official``: CMU ARCTIC archives from festvox and DEMAND 16 kHz zips from Zenodo, verified
  against pinned checksums, cached outside the repository so a re-run does not fetch again.
- ``local``: a folder holding the same corpora, for machines without internet.
- ``synthetic``: a generated demo corpus (not speech) so the pipeline runs with no files.

Output layout: ``<out>/speech/<speaker>/<file>``, ``<out>/noise/<noise>/<file>`` and
``<out>/manifest.csv`` (path, kind, source, speaker, noise, name, sample_rate, channels, frames,
duration, sha256). Audio bytes are kept as published; conversion happens downstream.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pandas as pd
import soundfile as sf
from tqdm import tqdm

from clearspeech.core.audio import AUDIO_SUFFIXES, AudioError, read_audio, write_audio
from clearspeech.core.config import above, at_least, non_empty, one_of, validate
from clearspeech.core.errors import UserError
from clearspeech.core.files import atomic_dir, file_digest
from clearspeech.core.manifest import read_manifest, write_manifest
from clearspeech.data import demo
from clearspeech.data.archives import extract_members
from clearspeech.data.fetch import arctic_archive, demand_archive

log = logging.getLogger(__name__)

SOURCES = ("official", "local", "synthetic")


class CorpusError(UserError, ValueError):
    """A local corpus copy that lacks a speaker or noise, or holds an unusable file."""


@dataclasses.dataclass(frozen=True)
class DownloadConfig:
    """The ``download`` section of ``params.yaml``."""

    source: str = "official"
    local_dir: str = "../shared/data"
    speakers: tuple[str, ...] = ("bdl", "slt")
    noises: tuple[str, ...] = ("PRESTO", "SPSQUARE", "DWASHING", "NFIELD", "NPARK")
    cache_dir: str = "~/.cache/clearspeech/downloads"
    retries: int = 5
    timeout: float = 30.0
    synthetic_utterances: int = 240
    synthetic_noise_seconds: float = 120.0
    seed: int = 0

    def __post_init__(self) -> None:
        validate(self, "download", source=one_of(SOURCES), speakers=non_empty, noises=non_empty,
                 retries=at_least(0), timeout=above(0), synthetic_utterances=at_least(1),
                 synthetic_noise_seconds=above(0), seed=at_least(0))


def prepare_raw(cfg: DownloadConfig, out_dir: str | Path) -> pd.DataFrame:
    """Fill ``out_dir`` from the configured source and write its manifest; returns the manifest.

    The folder is built in a staging directory and only replaces ``out_dir`` when complete.
    """
    gather = {"official": _gather_official, "local": _gather_local, "synthetic": _gather_synthetic}
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as staging:
        speakers, noises = gather[cfg.source](cfg, staging)
        manifest = _describe(staging, cfg.source, speakers, noises)
        write_manifest(manifest, staging / "manifest.csv")
    manifest = read_manifest(out_dir / "manifest.csv")
    log.info("raw corpus: %s", manifest.groupby("kind").size().to_dict())
    return manifest


def _gather_official(cfg: DownloadConfig, dest: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    cache = Path(cfg.cache_dir).expanduser()
    options = {"retries": cfg.retries, "timeout": cfg.timeout}
    for speaker in cfg.speakers:
        archive = arctic_archive(speaker).fetch(cache, **options)
        prefix = f"cmu_us_{speaker}_arctic/wav/"
        extract_members(archive, dest / "speech" / speaker, lambda name, p=prefix: _under(name, p, ".wav"))
    for env in cfg.noises:
        archive = demand_archive(env).fetch(cache, **options)
        wanted = f"{env}/ch01.wav"
        extract_members(archive, dest / "noise" / env, lambda name, w=wanted: "ch01.wav" if name == w else None)
    return cfg.speakers, cfg.noises


def _under(name: str, prefix: str, suffix: str) -> str | None:
    """The file name of an archive member directly inside ``prefix`` with ``suffix``, else None."""
    rest = name[len(prefix):] if name.startswith(prefix) else ""
    return rest if rest.endswith(suffix) and "/" not in rest else None


def find_local_speech(root: Path, speaker: str) -> list[Path]:
    """The ``wav/*.wav`` files of ``speaker`` in a local copy (directly or under ``arctic/``)."""
    for base in (root, root / "arctic"):
        wav_dir = base / f"cmu_us_{speaker}_arctic" / "wav"
        if wav_dir.is_dir():
            files = sorted(wav_dir.glob("*.wav"))
            if files:
                return files
    raise CorpusError(
        f"{root}: no CMU ARCTIC speaker {speaker!r} (looked for cmu_us_{speaker}_arctic/wav/*.wav "
        "directly and under arctic/)"
    )


def find_local_noise(root: Path, name: str) -> list[Path]:
    """The recordings of noise ``name``: DEMAND ``[DEMAND/]<name>/ch01.wav`` or ``noise/<name>/*``."""
    for candidate in (root / "DEMAND" / name / "ch01.wav", root / name / "ch01.wav"):
        if candidate.is_file():
            return [candidate]
    folder = root / "noise" / name
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise CorpusError(
            f"{root}: no noise {name!r} (looked for DEMAND/{name}/ch01.wav, {name}/ch01.wav and "
            f"noise/{name}/ with {', '.join(AUDIO_SUFFIXES)} files)"
        )
    return files


def check_files(files: list[Path]) -> tuple[float, list[str]]:
    """Seconds of audio in the decodable ``files`` and one line per file that is not (every one)."""
    seconds, errors = 0.0, []
    for path in files:
        try:
            data, rate = read_audio(path)
        except AudioError as err:
            errors.append(str(err))
            continue
        seconds += len(data) / rate
    return seconds, errors


def _gather_local(cfg: DownloadConfig, dest: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    root = Path(cfg.local_dir).expanduser()
    if not root.is_dir():
        raise CorpusError(f"{root}: download.local_dir is not a folder")
    jobs = [(f, dest / "speech" / spk / f.name) for spk in cfg.speakers for f in find_local_speech(root, spk)]
    jobs += [(f, dest / "noise" / name / f.name) for name in cfg.noises for f in find_local_noise(root, name)]
    for src, target in tqdm(jobs, desc="copy local corpus", unit="file"):
        read_audio(src)  # validates: raises AudioError naming the file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    return cfg.speakers, cfg.noises


def _gather_synthetic(cfg: DownloadConfig, dest: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    log.warning("download.source=synthetic: generating a DEMO corpus of speech-like signals, not speech")
    rate = demo.SAMPLE_RATE
    for speaker in demo.SPEAKERS:
        for index in tqdm(range(cfg.synthetic_utterances), desc=f"generate {speaker}", unit="utt"):
            signal = demo.utterance(speaker, index, cfg.seed, rate)
            write_audio(dest / "speech" / speaker / f"demo_{index + 1:04d}.wav", signal, rate, "PCM_16")
    for kind in demo.NOISE_KINDS:
        signal = demo.noise(kind, cfg.synthetic_noise_seconds, cfg.seed, rate)
        write_audio(dest / "noise" / kind / f"{kind}.wav", signal, rate, "PCM_16")
    return tuple(demo.SPEAKERS), tuple(demo.NOISE_KINDS)


def _describe(root: Path, source: str, speakers: tuple[str, ...], noises: tuple[str, ...]) -> pd.DataFrame:
    """One manifest row per audio file, speakers and noises in the configured order.

    The order matters: the split stage pairs ``split.per_speaker`` counts with it.
    """
    rows = []
    folders = [root / "speech" / s for s in speakers] + [root / "noise" / n for n in noises]
    for folder in folders:
        kind = folder.parent.name
        for path in sorted(folder.iterdir()):
            info = sf.info(str(path))
            rows.append({
                "path": str(path.resolve()),
                "kind": kind,
                "source": source,
                "speaker": path.parent.name if kind == "speech" else "",
                "noise": path.parent.name if kind == "noise" else "",
                "name": path.stem,
                "sample_rate": info.samplerate,
                "channels": info.channels,
                "frames": info.frames,
                "duration": info.frames / info.samplerate,
                "sha256": file_digest(path),
            })
    if not any(row["kind"] == "speech" for row in rows):
        raise CorpusError(f"{root}: the source produced no speech files")
    return pd.DataFrame(rows)
