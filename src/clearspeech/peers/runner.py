"""Running peers, each in its own process with a time limit, so a crash or a hang is a report.

A peer's process gets one thread (``OMP_NUM_THREADS=1`` and friends, one torch thread) and
inherits this process's ``sys.path`` so adapters outside the package (tests) can be loaded.

Two limits, so that a slow machine is never mistaken for a hanging peer: start-up (a fresh
interpreter importing torch and the peer stack, then building the adapter) has its own generous
limit, and ``timeout`` counts only from the moment the worker reports it is ready (over a pipe)
to the end of its work.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                            "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS")}


# Start-up of a worker: seconds on this machine, minutes on a slow, loaded one with a cold disk.
STARTUP_TIMEOUT = 600.0


def run_peer(name: str, spec: str, test: pd.DataFrame, out_dir: Path, rate: int, timeout: float,
             max_delay_ms: float, startup_timeout: float = STARTUP_TIMEOUT) -> dict:
    """Run adapter ``spec`` over ``test`` (columns ``id``, ``noisy_path``) into ``out_dir``.

    Returns the worker's ``run.json`` dict plus ``status: "ok"``, or ``{"name", "status":
    "failed", "error"}`` when the process raised, crashed, was not ready within
    ``startup_timeout`` seconds, or worked past ``timeout`` seconds once ready.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    job = {"name": name, "spec": spec, "rate": rate, "max_delay_ms": max_delay_ms, "out_dir": str(out_dir),
           "mixtures": test[["id", "noisy_path"]].astype(str).to_dict("records")}
    job_file = out_dir / "job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, **SINGLE_THREAD_ENV, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}
    start = time.monotonic()
    try:
        error = _supervise([sys.executable, "-m", "clearspeech.peers.worker", str(job_file)], env,
                           startup_timeout, timeout)
    finally:
        job_file.unlink(missing_ok=True)
    if error:
        return _failed(name, error)
    result = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    log.info("%s: %d mixtures in %.0f s, delay %d samples (%.1f ms), RTF %.4f", name, result["mixtures"],
             time.monotonic() - start, result["delay_samples"], result["delay_ms"], result["rtf_1thread"])
    return {**result, "status": "ok"}


def _supervise(command: list[str], env: dict[str, str], startup_timeout: float, timeout: float) -> str:
    """Run the worker ``command`` (plus the ready pipe's fd); ``""`` when it succeeded, else why not."""
    ready_read, ready_write = os.pipe()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:
        process = subprocess.Popen([*command, str(ready_write)], env=env, stdout=subprocess.DEVNULL,
                                   stderr=stderr, pass_fds=(ready_write,))
        os.close(ready_write)
        try:
            # One byte when ready; end of file when the worker exited (or crashed) before that.
            readable, _, _ = select.select([ready_read], [], [], startup_timeout)
            if not readable:
                return f"start-up timed out after {startup_timeout:g} s (not ready)"
            if os.read(ready_read, 1):
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    return f"timed out after {timeout:g} s"
            returncode = process.wait()
        finally:
            os.close(ready_read)
            if process.poll() is None:
                process.kill()
                process.wait()
        if returncode == 0:
            return ""
        stderr.seek(0)
        lines = [line for line in stderr.read().splitlines() if line.strip()]
        return f"exit status {returncode}: {lines[-1] if lines else 'no message'}"


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
