"""Long signals in bounded memory: overlapping chunks, cross-faded back together.

A signal of ``total`` samples is cut at multiples of ``chunk`` (the last chunk takes the
remainder, so it is between half and one and a half chunks long). Each chunk is processed
with ``context`` extra samples on both sides, so that a bidirectional model sees speech around
every sample it keeps, and neighbouring chunks are blended with complementary raised-cosine
ramps over ``fade`` samples centred on their boundary. With an identity process the output
equals the input exactly; with a model the seams differ from a whole-signal pass only by what
the model would have drawn from further than ``context`` away.

Signals are ``(samples, channels)`` float32 arrays throughout.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import numpy as np


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Chunk ``index`` keeps ``[start, stop)`` and is computed from ``[read_start, read_stop)``."""

    index: int
    start: int
    stop: int
    read_start: int
    read_stop: int


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
    """Chunk length, context and cross-fade in samples; boundaries fall on multiples of ``grid``."""

    chunk: int
    context: int
    fade: int
    grid: int = 1

    def __post_init__(self) -> None:
        if self.grid < 1 or self.chunk < self.grid or self.fade < 0 or self.fade % 2:
            raise ValueError(f"bad chunk plan {self}: need chunk >= grid >= 1 and an even fade >= 0")
        if self.context < self.fade // 2 or 2 * self.fade > self.chunk:
            raise ValueError(f"bad chunk plan {self}: need fade / 2 <= context and 2 * fade <= chunk")

    @classmethod
    def from_seconds(cls, rate: int, chunk: float, context: float, fade: float, grid: int = 1) -> ChunkPlan:
        """Seconds -> samples, chunk and context rounded up to the grid, fade to an even count."""
        def on_grid(seconds: float) -> int:
            return grid * math.ceil(seconds * rate / grid)
        return cls(on_grid(chunk), on_grid(context), 2 * round(fade * rate / 2), grid)

    def chunks(self, total: int) -> list[Chunk]:
        """The chunks covering ``[0, total)``; one chunk when the signal is short."""
        count = max(1, round(total / self.chunk))
        bounds = [index * self.chunk for index in range(count)] + [total]
        return [
            Chunk(index, start, stop, max(0, start - self.context), min(total, stop + self.context))
            for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:]))
        ]


def aligned_grid(rate: int, model_rate: int, hop: int) -> int:
    """Smallest step in samples at ``rate`` that is a whole number of samples at ``model_rate``
    and a whole number of STFT hops there, so every chunk sees the same frames as the whole signal."""
    common = math.gcd(rate, model_rate)
    rate_unit, model_unit = rate // common, model_rate // common
    return rate_unit * (hop // math.gcd(hop, model_unit))


def _ramp(length: int) -> np.ndarray:
    """Raised-cosine fade-in of ``length`` samples, ``(length, 1)``; it and ``1 - it`` sum to one."""
    phase = (np.arange(length, dtype=np.float64) + 0.5) / max(length, 1)
    return (0.5 - 0.5 * np.cos(np.pi * phase)).astype(np.float32)[:, None]


def overlap_add(plan: ChunkPlan, total: int, read: Callable[[int, int], np.ndarray],
                process: Callable[[np.ndarray], np.ndarray]) -> Iterator[np.ndarray]:
    """Yield the processed signal in order, one block per chunk; blocks concatenate to ``total``.

    ``read(a, b)`` returns samples ``[a, b)`` as ``(b - a, channels)``; it is called with
    non-decreasing ``a``, so a sequential reader works. ``process`` maps a segment to a segment
    of the same shape. Memory holds one chunk plus its context at a time.
    """
    chunks = plan.chunks(total)
    half, ramp = plan.fade // 2, _ramp(plan.fade)
    pending: np.ndarray | None = None  # previous chunk's faded-out tail, awaiting the fade-in
    for chunk in chunks:
        last = chunk.index == len(chunks) - 1
        lo = chunk.start - half if chunk.index else 0
        hi = total if last else chunk.stop + half
        segment = process(read(chunk.read_start, chunk.read_stop))
        part = segment[lo - chunk.read_start: hi - chunk.read_start].astype(np.float32, copy=True)
        if pending is not None:
            part[: plan.fade] = part[: plan.fade] * ramp + pending
        if last:
            yield part
        else:
            pending = part[len(part) - plan.fade:] * ramp[::-1]
            yield part[: len(part) - plan.fade]


def process_array(signal: np.ndarray, plan: ChunkPlan, process: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """:func:`overlap_add` over an in-memory ``(samples, channels)`` signal."""
    blocks = overlap_add(plan, len(signal), lambda a, b: signal[a:b], process)
    return np.concatenate(list(blocks), axis=0)
