"""Running peers, each in its own process with a time limit, so a crash or a hang is a report.

A peer's process gets one thread (``OMP_NUM_THREADS=1`` and friends, one torch thread) and
inherits this process's ``sys.path`` so adapters outside the package (tests) can be loaded.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                            "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS")}


def run_peer(name: str, spec: str, test: pd.DataFrame, out_dir: Path, rate: int, timeout: float,
             max_delay_ms: float) -> dict:
    """Run adapter ``spec`` over ``test`` (columns ``id``, ``noisy_path``) into ``out_dir``.

    Returns the worker's ``run.json`` dict plus ``status: "ok"``, or ``{"name", "status":
    "failed", "error"}`` when the process raised, crashed or ran past ``timeout`` seconds.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    job = {"name": name, "spec": spec, "rate": rate, "max_delay_ms": max_delay_ms, "out_dir": str(out_dir),
           "mixtures": test[["id", "noisy_path"]].astype(str).to_dict("records")}
    job_file = out_dir / "job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, **SINGLE_THREAD_ENV, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "clearspeech.peers.worker", str(job_file)], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return _failed(name, f"timed out after {timeout:g} s")
    finally:
        job_file.unlink(missing_ok=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return _failed(name, f"exit status {done.returncode}: {lines[-1] if lines else 'no message'}")
    result = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    log.info("%s: %d mixtures in %.0f s, delay %d samples (%.1f ms), RTF %.4f", name, result["mixtures"],
             time.monotonic() - start, result["delay_samples"], result["delay_ms"], result["rtf_1thread"])
    return {**result, "status": "ok"}


def _failed(name: str, error: str) -> dict:
    log.warning("peer %s failed: %s", name, error)
    return {"name": name, "status": "failed", "error": error}


def run_peers(specs: dict[str, str], test: pd.DataFrame, out_root: Path, rate: int, timeout: float,
              max_delay_ms: float) -> list[dict]:
    """:func:`run_peer` for every ``{name: spec}``, one after another, into ``out_root/<name>``."""
    return [run_peer(name, spec, test, out_root / name, rate, timeout, max_delay_ms)
            for name, spec in specs.items()]


def ok_names(runs: Sequence[dict]) -> list[str]:
    return [run["name"] for run in runs if run["status"] == "ok"]
