"""Enhance audio files of any format, rate, channel count and length, streaming in chunks.

A file is read sequentially in blocks (never whole), each chunk is enhanced by
:meth:`Enhancer.segment_processor` (resampled to the model's rate and back, every channel on
its own) and cross-faded into the output (:mod:`clearspeech.inference.chunking`), which is written block
by block to a temporary file beside the destination and renamed onto it only when complete.
Memory therefore depends on the chunk length, not on the file's.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from clearspeech.core.audio import AudioError
from clearspeech.core.files import atomic_path, write_failure
from clearspeech.inference.chunking import overlap_add
from clearspeech.inference.enhancer import DEFAULT_CHUNKS, ChunkSeconds, Enhancer

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FileResult:
    """One enhanced file: its audio duration, and how many samples had to be clipped."""

    source: Path
    dest: Path
    seconds: float
    clipped: int
    frame_ms: float | None = None  # streaming: model compute per frame (all channels)
    latency_ms: float | None = None  # streaming: algorithmic latency


class SequentialReader:
    """Random-access reads ``[a, b)`` with non-decreasing ``a`` over a forward-only decoder.

    Keeps only the samples from the last ``a`` onwards, so compressed formats (mp3, ogg) are
    decoded once, without seeking. Non-finite samples raise :class:`AudioError` naming the file.
    """

    def __init__(self, handle: sf.SoundFile, path: Path) -> None:
        self.handle, self.path = handle, path
        self.buffer = np.zeros((0, handle.channels), dtype=np.float32)
        self.offset = 0  # sample index of buffer[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)``, ``(stop - start, channels)`` float32."""
        self.buffer, self.offset = self.buffer[start - self.offset:], start
        missing = stop - self.offset - len(self.buffer)
        if missing > 0:
            done = self.offset + len(self.buffer)
            try:
                block = self.handle.read(missing, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError, ValueError) as err:  # a decoder losing sync, say
                raise AudioError(f"{self.path}: cannot decode the audio after {done / self.handle.samplerate:.2f} s "
                                 f"({err})") from err
            finite = np.isfinite(block).all(axis=1)
            if not finite.all():
                at = (done + int(np.argmin(finite))) / self.handle.samplerate
                raise AudioError(f"{self.path}: audio contains NaN or infinite samples (at {at:.2f} s)")
            if len(block) < missing:
                raise AudioError(f"{self.path}: file ends early ({self.offset + len(self.buffer) + len(block)} "
                                 f"of {self.handle.frames} samples decoded)")
            self.buffer = np.concatenate([self.buffer, block])
        return self.buffer[: stop - start]


def output_subtype(source: sf.SoundFile, dest: Path, subtype: str | None) -> tuple[str, str]:
    """The ``(format, subtype)`` to write: ``dest``'s format, the requested or the input's
    subtype when that format can hold it, else the format's default."""
    fmt = dest.suffix.lstrip(".").upper()
    if fmt not in sf.available_formats():
        raise AudioError(f"{dest}: cannot write audio with suffix {dest.suffix!r}")
    if subtype is not None:
        if not sf.check_format(fmt, subtype):
            raise AudioError(f"{dest}: format {fmt} cannot hold subtype {subtype}")
        return fmt, subtype
    wanted = source.subtype if fmt == source.format else None
    return fmt, wanted if wanted and sf.check_format(fmt, wanted) else sf.default_subtype(fmt)


def _open_checked(path: Path, min_seconds: float) -> sf.SoundFile:
    """Open ``path`` for reading; :class:`AudioError` unless it is audio of at least ``min_seconds``."""
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    if handle.frames <= 0:
        handle.close()
        raise AudioError(f"{path}: audio file has no samples")
    if handle.frames < min_seconds * handle.samplerate:
        seconds = handle.frames / handle.samplerate
        handle.close()
        raise AudioError(f"{path}: {seconds * 1000:.1f} ms of audio is shorter than one STFT frame "
                         f"({min_seconds * 1000:.0f} ms)")
    return handle


def _pcm_limit(subtype: str) -> float | None:
    """Full scale for integer subtypes, which cannot hold more; None for float ones."""
    return 1.0 if subtype.startswith("PCM") or subtype in ("ULAW", "ALAW") else None


def _clip(block: np.ndarray, limit: float | None) -> tuple[np.ndarray, int]:
    """``block`` limited to ``[-limit, limit]`` (None: untouched) and how many samples that changed."""
    if limit is None:
        return block, 0
    over = int(np.count_nonzero(np.abs(block) > limit))
    return (np.clip(block, -limit, limit) if over else block), over


def _write(handle: sf.SoundFile, dest: Path, subtype: str | None, blocks: Iterator[np.ndarray],
           progress: Callable[[float], None] | None) -> int:
    """Write ``blocks`` (``(n, channels)`` at the input's rate) to ``dest`` through a temporary
    file, in ``dest``'s format and :func:`output_subtype`; the count of samples clipped to fit."""
    fmt, out_subtype = output_subtype(handle, dest, subtype)
    try:
        clipped = _write_blocks(handle, dest, fmt, out_subtype, blocks, progress)
    except (OSError, sf.LibsndfileError) as err:  # full or read-only disk: libsndfile says "System error."
        raise AudioError(f"{dest}: cannot write ({write_failure(dest.parent, err)}); nothing kept") from err
    if clipped:
        log.warning("%s: %d samples beyond full scale were clipped (%s output; use --subtype FLOAT to keep them)",
                    dest, clipped, out_subtype)
    return clipped


def _write_blocks(handle: sf.SoundFile, dest: Path, fmt: str, out_subtype: str, blocks: Iterator[np.ndarray],
                  progress: Callable[[float], None] | None) -> int:
    limit, clipped = _pcm_limit(out_subtype), 0
    with atomic_path(dest, suffix=dest.suffix) as tmp:
        try:
            with sf.SoundFile(str(tmp), "w", handle.samplerate, handle.channels, out_subtype, format=fmt) as out:
                for block in blocks:
                    if not np.isfinite(block).all():
                        raise AudioError(f"{dest}: the model's output has NaN or infinite samples (is the "
                                         "checkpoint broken?); nothing written")
                    block, over = _clip(block, limit)
                    clipped += over
                    out.write(block)
                    if progress:
                        progress(len(block) / handle.samplerate)
        except (OSError, sf.LibsndfileError) as err:  # judged while the partial file still fills the disk
            raise AudioError(f"{dest}: cannot write ({write_failure(dest.parent, err)}); nothing kept") from err
    return clipped


def enhance_file(enhancer: Enhancer, source: Path, dest: Path, seconds: ChunkSeconds = DEFAULT_CHUNKS,
                 subtype: str | None = None, progress: Callable[[float], None] | None = None) -> FileResult:
    """Enhance ``source`` into ``dest`` (written atomically), keeping rate and channels.

    ``subtype`` None keeps the input's when ``dest``'s format allows. Integer (PCM) outputs
    cannot hold samples beyond full scale: those are clipped and counted (logged as a warning).
    ``progress`` is called with the audio seconds of each finished block.
    """
    with _open_checked(source, enhancer.frame_samples / enhancer.sample_rate) as handle:
        rate, total = handle.samplerate, handle.frames
        blocks = overlap_add(enhancer.chunk_plan(rate, seconds), total, SequentialReader(handle, source).read,
                             enhancer.segment_processor(rate))
        clipped = _write(handle, dest, subtype, blocks, progress)
    return FileResult(source, dest, total / rate, clipped)


STREAM_BLOCK = 0.1  # seconds handed to the streaming enhancer at a time, as a live input would


def stream_file(enhancer: Enhancer, source: Path, dest: Path, subtype: str | None = None,
                progress: Callable[[float], None] | None = None) -> FileResult:
    """Like :func:`enhance_file`, frame by frame with a causal model (:mod:`clearspeech.inference.streaming`);
    the file must be at the model's sample rate (resampling is not streamed)."""
    from clearspeech.inference.streaming import StreamingEnhancer, StreamingError

    with _open_checked(source, enhancer.frame_samples / enhancer.sample_rate) as handle:
        if handle.samplerate != enhancer.sample_rate:
            raise AudioError(f"{source}: --stream needs audio at the model's {enhancer.sample_rate} Hz, "
                             f"not {handle.samplerate} Hz (enhance it without --stream)")
        try:
            streamer = StreamingEnhancer(enhancer, handle.channels)
        except StreamingError as err:
            raise AudioError(f"{source}: {err}") from err
        clipped = _write(handle, dest, subtype, _streamed(streamer, SequentialReader(handle, source)), progress)
    frame_ms = 1000.0 * streamer.frame_seconds / max(streamer.frame, 1)
    return FileResult(source, dest, handle.frames / handle.samplerate, clipped, frame_ms, streamer.latency_ms)


def _streamed(streamer, reader: SequentialReader) -> Iterator[np.ndarray]:
    """The streamer's output for the reader's file, fed :data:`STREAM_BLOCK` seconds at a time."""
    total, block = reader.handle.frames, int(STREAM_BLOCK * reader.handle.samplerate)
    for start in range(0, total, block):
        stop = min(total, start + block)
        yield streamer.process(reader.read(start, stop))
    yield streamer.flush()


def audio_seconds(path: Path) -> float:
    """Duration of an audio file from its header, or NaN when it cannot be read."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return math.nan
    return info.frames / info.samplerate if info.samplerate else math.nan
