"""One peer over a list of mixtures, in its own process: ``python -m clearspeech.peers.worker JOB FD``.

``JOB`` is a JSON file written by :mod:`clearspeech.peers.runner`: ``name``, ``spec``
(``"module:Class"``), ``rate`` (the mixtures' rate), ``max_delay_ms``, ``out_dir`` and
``mixtures`` (``[{"id", "noisy_path"}]``). The worker writes ``<out_dir>/<id>.wav`` (float32 at
``rate``, delay removed, the input's length) and ``<out_dir>/run.json``. It runs on one thread:
the reported real-time factor is for one CPU thread. Once the imports are done and the adapter
is built, it writes one byte to the inherited pipe ``FD``: the runner's time limit on the peer's
work starts there. Any failure exits non-zero with one line on stderr.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from clearspeech.core.audio import load_mono, resample, write_audio
from clearspeech.core.files import write_text_atomic
from clearspeech.peers import Peer, load_peer
from clearspeech.peers.delay import compensate, estimate_delay

WARMUP_SECONDS = 1.0  # JIT compilers (numba in librosa) and ONNX sessions warm up outside the timing


def _raw_output(peer: Peer, noisy: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
    """The peer's output for ``noisy`` ``(samples,)`` at ``rate``, back at ``rate``, and the
    seconds its :meth:`~Peer.enhance` took (resampling and state reset not counted)."""
    native = resample(noisy, rate, peer.rate)
    native = np.pad(native, (0, int(round(peer.flush_ms * peer.rate / 1000))))
    peer.reset()
    start = time.perf_counter()
    out = peer.enhance(native)
    seconds = time.perf_counter() - start
    if out.ndim != 1 or not np.isfinite(out).all():
        raise ValueError(f"{peer.name} returned shape {out.shape} or non-finite samples")
    return resample(out.astype(np.float32), peer.rate, rate), seconds


def run(job: dict, peer: Peer) -> dict:
    """Enhance every mixture of ``job`` with ``peer``; the ``run.json`` dict (delay, real-time
    factor, latency)."""
    rate, out_dir = int(job["rate"]), Path(job["out_dir"])
    first = load_mono(job["mixtures"][0]["noisy_path"], rate)
    _raw_output(peer, first[: int(WARMUP_SECONDS * rate)], rate)
    delay, audio_seconds, busy_seconds = None, 0.0, 0.0
    for mixture in job["mixtures"]:
        noisy = load_mono(mixture["noisy_path"], rate)
        out, seconds = _raw_output(peer, noisy, rate)
        if delay is None:  # the peer's fixed delay, measured once on the first file
            delay = estimate_delay(out, noisy, int(job["max_delay_ms"] * rate / 1000))
        write_audio(out_dir / f"{mixture['id']}.wav", compensate(out, delay, len(noisy)), rate, "FLOAT")
        audio_seconds += len(noisy) / rate
        busy_seconds += seconds
    delay_ms = 1000.0 * delay / rate
    return {"name": job["name"], "package": peer.package, "version": _version(peer.package),
            "native_rate": peer.rate, "delay_samples": delay, "delay_ms": delay_ms,
            "rtf_1thread": busy_seconds / audio_seconds, "latency_ms": peer.latency(delay_ms),
            "latency_note": peer.latency_note, "mixtures": len(job["mixtures"])}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package) if package else ""
    except importlib.metadata.PackageNotFoundError:
        return ""


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    ready = int(argv[1]) if len(argv) > 1 else None
    torch.set_num_threads(1)
    try:
        peer = load_peer(job["spec"])
        if ready is not None:
            os.write(ready, b"1")
            os.close(ready)
        result = run(job, peer)
    except Exception as err:  # noqa: BLE001 - any peer failure becomes one reported line
        print(f"{type(err).__name__}: {err}".replace("\n", " "), file=sys.stderr)
        return 2
    write_text_atomic(Path(job["out_dir"]) / "run.json", json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
