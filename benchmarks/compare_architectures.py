"""Train and evaluate every architecture on the same data with the same budget; print a table.

    uv run python benchmarks/compare_architectures.py --minutes 6
    uv run python benchmarks/compare_architectures.py --minutes 6 --arch crn --arch rced

For each architecture: ``dvc exp run -n compare-<arch>`` in this workspace, one after the other
(two cores), with ``model.arch=<arch>``, ``train.max_minutes`` as the budget (epochs of 100 steps), the sizes of
``CPU_SIZES`` below (the papers' sizes are meant for a GPU) and the data overrides of
``--data`` (default: ``../shared/data`` with its five noise folders, default counts). The peers
stage runs no peer here (``peers.peers=[]``): the peers are compared by their own stage. After
each run the script reads the workspace's ``metrics/`` and ``models/model.pt`` and measures:

- parameters; MACs per second of 16 kHz audio (:mod:`clearspeech.models.complexity`: convolutions,
  linear layers, LSTMs); training time (``metrics/train.json``); real-time factor of
  ``Enhancer.enhance`` on 20 s of noisy speech with one CPU thread;
- PESQ-WB, STOI, ESTOI, SI-SDR on the test set and their paired gains over the noisy input,
  and the PESQ-WB gain per SNR (``metrics/eval.json``, ``metrics/eval_by_condition.csv``).

``params.yaml`` is restored after every run (``dvc exp run`` writes the overrides into it). The
table is printed as Markdown after each architecture (and written as JSON to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clearspeech.models import REGISTRY, parameter_count

REPO = Path(__file__).resolve().parents[1]
ARCHS = tuple(REGISTRY)  # every registered architecture
DATA = ["download.source=local", "download.local_dir=../shared/data",
        "download.noises=[kitchen,machine,water,music,playground]"]
# Sizes that train a useful number of steps in minutes on two CPU cores.
CPU_SIZES = {
    "crnn": ["model.crnn.channels=64", "model.crnn.rnn_hidden=256", "train.batch_size=16"],
    "crn": ["model.crn.channels=[8,16,32,64,128]", "train.batch_size=16"],
    "rced": ["train.batch_size=16"],
    "autoencoder": ["model.target=irm", "train.batch_size=16"],
    "segan": ["model.segan.channels=[8,16,16,32,32,64,64,128,128,256,512]", "train.batch_size=8"],
}
METRICS = ("pesq_wb", "stoi", "estoi", "si_sdr")


def run_experiment(arch: str, minutes: float, data: list[str]) -> float:
    """``dvc exp run`` for ``arch``; its wall seconds."""
    # Short epochs: the budget is checked after each epoch, and validation tracks progress.
    overrides = [*data, f"model.arch={arch}", f"train.max_minutes={minutes:g}", "train.steps_per_epoch=100",
                 "peers.peers=[]", *CPU_SIZES.get(arch, [])]
    command = ["dvc", "exp", "run", "-f", "-n", f"compare-{arch}"]  # -f: a rerun replaces it
    for override in overrides:
        command += ["-S", override]
    started = time.monotonic()
    subprocess.run(command, cwd=REPO, check=True)
    return time.monotonic() - started


def measure(arch: str) -> dict:
    """What the comparison table shows for the model the last run left in the workspace."""
    from clearspeech.core.audio import load_mono
    from clearspeech.inference.enhancer import Enhancer
    from clearspeech.models.complexity import count_macs

    torch.set_num_threads(1)
    enhancer = Enhancer.from_checkpoint(REPO / "models" / "model.pt")
    second = torch.zeros(1, enhancer.sample_rate)
    macs = count_macs(enhancer.model, lambda: enhancer.enhance_batch(second))
    noisy = np.resize(load_mono(sorted((REPO / "data" / "mixtures").rglob("*.wav"))[0], 16000), 20 * 16000)
    enhancer.enhance(noisy[:16000])  # warm-up
    started = time.perf_counter()
    enhancer.enhance(noisy)
    rtf = (time.perf_counter() - started) / 20.0
    report = json.loads((REPO / "metrics" / "eval.json").read_text())
    train = json.loads((REPO / "metrics" / "train.json").read_text())
    by_condition = pd.read_csv(REPO / "metrics" / "eval_by_condition.csv")
    row = {"arch": arch, "parameters": parameter_count(enhancer.model), "macs_per_second": macs,
           "train_seconds": train["train_seconds"], "epochs": train["epochs"], "rtf_1thread": rtf}
    for metric in METRICS:
        row[metric] = report["model"][metric]
        row[f"gain_{metric}"] = report["improvement_model"][metric]
    row["noisy"] = {metric: report["noisy"][metric] for metric in METRICS}
    row["gain_pesq_wb_by_snr"] = _gain_by_snr(by_condition)
    return row


def _gain_by_snr(table: pd.DataFrame) -> dict[str, float]:
    """Model minus noisy PESQ-WB per SNR, from the per-condition means."""
    means = table.groupby(["system", "snr"])["pesq_wb"].mean().unstack("system")
    return {f"{snr:g}": float(means.loc[snr, "model"] - means.loc[snr, "noisy"]) for snr in means.index}


def markdown(rows: list[dict]) -> str:
    snrs = list(rows[0]["gain_pesq_wb_by_snr"]) if rows else []
    head = ("| arch | params | MMAC/s | train (min) | RTF 1 thread | PESQ-WB | STOI | ESTOI | SI-SDR | "
            "ΔPESQ-WB | ΔSTOI | ΔESTOI | ΔSI-SDR | " + " | ".join(f"ΔPESQ-WB {s} dB" for s in snrs) + " |")
    lines = [head, "|" + "---|" * (13 + len(snrs))]
    for r in rows:
        snr_cells = " | ".join(f"{r['gain_pesq_wb_by_snr'][s]:+.2f}" for s in snrs)
        lines.append(
            f"| {r['arch']} | {r['parameters'] / 1e6:.2f} M | {r['macs_per_second'] / 1e6:.0f} | "
            f"{r['train_seconds'] / 60:.1f} | {r['rtf_1thread']:.3f} | {r['pesq_wb']:.2f} | {r['stoi']:.3f} | "
            f"{r['estoi']:.3f} | {r['si_sdr']:.2f} | {r['gain_pesq_wb']:+.2f} | {r['gain_stoi']:+.3f} | "
            f"{r['gain_estoi']:+.3f} | {r['gain_si_sdr']:+.2f} | {snr_cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="Training budget per architecture.")
    parser.add_argument("--arch", action="append", choices=ARCHS, help="Architecture (repeatable; default all).")
    parser.add_argument("--data", action="append", help="Data override for dvc exp run -S (repeatable).")
    parser.add_argument("--out", type=Path, help="Also write the rows as JSON here.")
    args = parser.parse_args()
    params = (REPO / "params.yaml").read_text()
    rows = []
    try:
        for arch in args.arch or ARCHS:
            wall = run_experiment(arch, args.minutes, args.data or DATA)
            rows.append({**measure(arch), "pipeline_seconds": wall})
            if args.out:
                args.out.write_text(json.dumps(rows, indent=2) + "\n")
            print(markdown(rows), flush=True)
    finally:
        (REPO / "params.yaml").write_text(params)


if __name__ == "__main__":
    main()
