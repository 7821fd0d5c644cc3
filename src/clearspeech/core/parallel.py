"""Process pools sized for the machine, with one torch thread per worker.

Torch's default of one thread per core inside every worker oversubscribes a small machine
(measured: 8x slower on 2 cores), so workers are pinned to a single thread.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch


def worker_count(requested: int) -> int:
    """``requested`` workers, or every available core when it is 0."""
    if requested < 0:
        raise ValueError(f"workers must be >= 0, not {requested}")
    return requested or len(os.sched_getaffinity(0))


def _init_worker(init: Callable[..., None] | None, args: tuple) -> None:
    torch.set_num_threads(1)
    if init is not None:
        init(*args)


def ordered_map(func: Callable[[Any], Any], items: Iterable[Any], workers: int,
                init: Callable[..., None] | None = None, init_args: tuple = ()) -> Iterator[Any]:
    """``map(func, items)`` in order, over ``workers`` forked processes (in-process when 1).

    ``init(*init_args)`` runs once in each worker, e.g. to install large read-only state that
    fork then shares without pickling.
    """
    workers = worker_count(workers)
    if workers == 1:
        if init is not None:
            init(*init_args)
        yield from map(func, items)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(init, init_args)) as pool:
        yield from pool.imap(func, items, chunksize=2)
