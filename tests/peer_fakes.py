"""Peer adapters for the runner's tests: one that only delays, and three that fail differently.

Loaded by the runner's worker process through ``sys.path`` (``tests/`` is on it under pytest).
"""

from __future__ import annotations

import os
import time

import numpy as np

from clearspeech.peers import Peer

SHIFT = 57  # samples at 16 kHz


class Delays(Peer):
    """A pure delay of ``SHIFT`` samples at 16 kHz: the output is the input, later."""

    name, package, rate, frame_ms, latency_note = "delays", "", 16000, 10.0, "test"

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros(SHIFT, np.float32), wave])


class Raises(Peer):
    name = "raises"

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        raise RuntimeError("this peer always fails")


class Hangs(Peer):
    name = "hangs"

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        time.sleep(3600)
        return wave


class Crashes(Peer):
    """Dies without a Python exception, as a segfaulting extension would."""

    name = "crashes"

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        os._exit(139)


class SlowStart(Delays):
    """:class:`Delays` whose construction takes ``STARTUP_SECONDS``, as loading a large model would."""

    def __init__(self) -> None:
        time.sleep(STARTUP_SECONDS)


class HangsStarting(Peer):
    """Never finishes construction: only the runner's start-up limit can stop it."""

    name = "hangs_starting"

    def __init__(self) -> None:
        time.sleep(3600)

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        return wave


STARTUP_SECONDS = 5.0
