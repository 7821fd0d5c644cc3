"""Real-time factor and peak memory of ``clearspeech enhance`` on a long file, on this machine.

    uv run python benchmarks/enhance_rtf.py                      # 10-minute file, 1 thread and all
    uv run python benchmarks/enhance_rtf.py --minutes 60 --threads 1 --model models/model.pt

Each measurement runs the real command line (``clearspeech enhance``) in a fresh process and
reports that process's wall time around the command and its peak resident memory (VmHWM),
next to the memory it held before enhancing (Python, PyTorch and the model loaded). The test
file is real noisy speech (ARCTIC utterances from ../shared/data in kitchen noise at 10 dB,
repeated to length) when that folder exists, else the generated demo signals. Models: the
given checkpoints, by default README's CPU profile and the paper-sized CRNN, both with random
weights (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def test_signal(minutes: float, rate: int) -> tuple[np.ndarray, str]:
    """``(samples,)`` float32 noisy speech of ``minutes`` at ``rate`` and what it is."""
    from clearspeech.core.audio import load_mono
    from clearspeech.data.mixing import mix

    if (SHARED / "arctic").is_dir():
        files = sorted((SHARED / "arctic").glob("cmu_us_*_arctic/wav/*.wav"))[:60]
        speech = np.concatenate([load_mono(path, rate) for path in files])
        noise = load_mono(min((SHARED / "noise" / "kitchen").iterdir()), rate)
        what = "ARCTIC speech in kitchen noise at 10 dB"
    else:
        from clearspeech.data import demo

        speech = np.concatenate([demo.utterance("demo_male", i, seed=0) for i in range(30)])
        noise = demo.noise("demo_babble", 60.0, seed=0, rate=16000)
        what = "generated demo signals (no ../shared/data)"
    length = int(minutes * 60 * rate)
    return mix(np.resize(speech, length), np.resize(noise, length), 10.0).noisy, what


# README's CPU profile and the paper's sizes (params.yaml's default).
SIZES = {"crnn-cpu-profile": {"channels": 64, "rnn_hidden": 256}, "crnn-paper": {}}


def random_checkpoint(path: Path, **sizes: int) -> Path:
    """A CRNN with random weights and ``sizes`` over the defaults, as a checkpoint."""
    from clearspeech.models import build_model
    from clearspeech.models.checkpoint import save_checkpoint
    from clearspeech.models.crnn import CRNNConfig

    config = dataclasses.asdict(CRNNConfig(**sizes))
    bins = 257
    save_checkpoint(path, {
        "arch": "crnn", "model_config": config, "bins": bins, "target": "irm",
        "stft": {"n_fft": 512, "hop": 128, "window": "hann", "sample_rate": 16000, "floor": 1e-5},
        "stats": {key: [0.0 if key.endswith("mean") else 1.0] * bins
                  for key in ("noisy_mean", "noisy_std", "clean_mean", "clean_std")},
        "model_state": build_model("crnn", config, bins, "irm").state_dict(),
    })
    return path


def high_water_mb() -> float:
    """Peak resident memory of this process image, MB (``VmHWM``). Unlike ``ru_maxrss``, it
    starts afresh at ``exec``, so the parent's memory at fork time is not counted."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def child(model: str, threads: int, source: str, dest: str) -> None:
    """Run ``clearspeech enhance`` in this process; print wall time and memory as JSON."""
    from clearspeech.cli.app import main
    from clearspeech.cli.enhance import _load

    _load(model, "cpu", threads)  # imports and model in memory: the baseline
    baseline = high_water_mb()
    started = time.perf_counter()
    try:
        main(["enhance", "-q", source, dest, "-m", model, "--device", "cpu", "--threads", str(threads), "--force"],
             standalone_mode=False)
    except SystemExit as done:  # the command exits with its status, like on the command line
        if done.code:
            raise
    wall = time.perf_counter() - started
    print(json.dumps({"wall": wall, "baseline_mb": baseline, "peak_mb": high_water_mb()}))


def measure(model: Path, threads: int, source: Path, seconds: float) -> dict:
    """One fresh process enhancing ``source``; wall, RTF and memory."""
    with tempfile.TemporaryDirectory() as folder:
        out = subprocess.run([sys.executable, __file__, "--child", str(model), str(threads), str(source),
                              str(Path(folder) / f"out{source.suffix}")],
                             capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "rtf": result["wall"] / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=16000, help="Sample rate of the test file.")
    parser.add_argument("--threads", default=f"1,{len(os.sched_getaffinity(0))}", help="Comma-separated counts.")
    parser.add_argument("--model", action="append", help="Checkpoint (repeatable).")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2], args.child[3])
        return
    from clearspeech.models import parameter_count
    from clearspeech.models.checkpoint import load_checkpoint
    from clearspeech.models.checkpoint import model_from_checkpoint as rebuild

    with tempfile.TemporaryDirectory() as folder:
        models = [Path(m) for m in args.model or []]
        if not models:
            models = [random_checkpoint(Path(folder) / f"{name}.pt", **sizes) for name, sizes in SIZES.items()]
        signal, what = test_signal(args.minutes, args.rate)
        source = Path(folder) / "long.wav"
        sf.write(source, signal, args.rate, subtype="PCM_16")
        print(f"# {args.minutes:g} min at {args.rate} Hz, mono PCM_16: {what}; {os.cpu_count()} CPUs")
        print("| model | parameters | threads | wall (s) | RTF | memory before (MB) | peak (MB) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for model in models:
            params = parameter_count(rebuild(load_checkpoint(model)))
            for threads in map(int, args.threads.split(",")):
                r = measure(model, threads, source, len(signal) / args.rate)
                print(f"| {model.name} | {params / 1e6:.1f} M | {threads} | {r['wall']:.1f} | {r['rtf']:.4f} | "
                      f"{r['baseline_mb']:.0f} | {r['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
