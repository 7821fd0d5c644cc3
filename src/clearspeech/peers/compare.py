"""The peers stage: run every selected peer, score it with evaluate's code, put it beside the model.

The noisy input and the model (and evaluate's own log-MMSE) are not re-scored: their per-mixture
scores come from evaluate's ``eval_utterances.csv``, computed by the same
:func:`clearspeech.evaluation.metrics.score_many` used here for the peers, on the same mixtures.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clearspeech.core.audio import load_mono
from clearspeech.core.config import above, at_least, validate
from clearspeech.core.errors import UserError
from clearspeech.core.files import atomic_dir
from clearspeech.evaluation import logmmse
from clearspeech.evaluation.metrics import METRICS, score_many
from clearspeech.evaluation.report import write_peers_report
from clearspeech.evaluation.summary import mean_ci, paired_differences, summary
from clearspeech.inference.enhancer import Enhancer
from clearspeech.peers import adapter_spec
from clearspeech.peers.runner import ok_names, run_peers
from clearspeech.peers.tables import PeersReports, json_ready, write_reports

log = logging.getLogger(__name__)

RATE = 16000  # the mixtures' rate; every peer's output is brought back to it


@dataclasses.dataclass(frozen=True)
class PeersConfig:
    """The ``peers`` section of ``params.yaml``."""

    peers: tuple[str, ...] = ()
    timeout: float = 1800.0
    max_delay_ms: float = 250.0
    workers: int = 0

    def __post_init__(self) -> None:
        validate(self, "peers", timeout=above(0), max_delay_ms=at_least(0), workers=at_least(0))
        for name in self.peers:
            try:
                adapter_spec(name)
            except ValueError as err:  # it names the known peers
                raise ValueError(f"peers.peers: {err}") from err


class EvaluationMissing(UserError, ValueError):
    """evaluate's per-mixture scores are missing or do not cover the test mixtures."""


def compare_peers(manifest: pd.DataFrame, eval_utterances: Path, checkpoint: Path, cfg: PeersConfig,
                  peers_dir: Path, reports: PeersReports, specs: dict[str, str] | None = None,
                  report_path: Path | None = None) -> dict:
    """Run, score and report (also as HTML at ``report_path``); returns the ``peers.json`` dict.
    ``specs`` (``{name: "module:Class"}``) replaces the registry lookup of ``cfg.peers`` (tests use
    it for deliberately broken peers)."""
    specs = specs if specs is not None else {name: adapter_spec(name) for name in cfg.peers}
    test = manifest[manifest["split"] == "test"].sort_values("id").reset_index(drop=True)
    baseline = _evaluate_scores(eval_utterances, test)
    with atomic_dir(peers_dir) as staging:
        runs = run_peers(specs, test, staging, RATE, cfg.timeout, cfg.max_delay_ms)
        peer_scores = _score_peers(test, staging, ok_names(runs), cfg.workers)
    table = pd.concat([baseline, peer_scores], ignore_index=True)
    report = _report(table, runs, _own_systems(test, checkpoint))
    write_reports(table, report, reports)
    if report_path is not None:
        write_peers_report(report_path, table, report["failed"], RATE)
    return report


def _evaluate_scores(path: Path, test: pd.DataFrame) -> pd.DataFrame:
    """evaluate's long table restricted to the test mixtures (noisy, model, logmmse)."""
    if not path.is_file():
        raise EvaluationMissing(f"{path}: not found; run the evaluate stage first")
    table = pd.read_csv(path)
    missing = sorted(set(test["id"]) - set(table["id"]))
    if missing:
        raise EvaluationMissing(f"{path}: no scores for {len(missing)} test mixtures (e.g. {missing[0]}); "
                                "re-run the evaluate stage")
    return table[table["id"].isin(test["id"])].drop(columns=["errors"], errors="ignore")


def _score_peers(test: pd.DataFrame, peers_dir: Path, names: list[str], workers: int) -> pd.DataFrame:
    """Long table (``id``, ``noise``, ``snr``, ``system``, metrics) of every peer that ran."""
    cleans = [load_mono(path, RATE) for path in test["clean_path"]]
    pairs = [(load_mono(peers_dir / name / f"{row.id}.wav", RATE), clean)
             for name in names for row, clean in zip(test.itertuples(), cleans)]
    scores = score_many(pairs, RATE, workers)
    rows = []
    for position, result in enumerate(scores):
        row = test.iloc[position % len(test)]
        rows.append({"id": row["id"], "noise": row["noise"], "snr": row["snr"],
                     "system": names[position // len(test)],
                     **{metric: result.values.get(metric, np.nan) for metric in METRICS}})
    return pd.DataFrame(rows, columns=["id", "noise", "snr", "system", *METRICS])


def _own_systems(test: pd.DataFrame, checkpoint: Path) -> dict[str, dict]:
    """Speed and latency of the noisy input, the model and evaluate's log-MMSE."""
    enhancer = Enhancer.from_checkpoint(checkpoint, "cpu")
    noisy = [load_mono(path, RATE) for path in test["noisy_path"]]
    return {
        "noisy": {"rtf_1thread": None, "latency_ms": 0.0, "latency_note": "the input itself"},
        "model": {"rtf_1thread": _rtf_1thread(enhancer.enhance, noisy), "latency_ms": None,
                  "latency_note": "offline: its bidirectional LSTMs read the whole utterance"},
        "logmmse": {"rtf_1thread": _rtf_1thread(lambda wave: logmmse.enhance(wave, RATE), noisy),
                    "latency_ms": None, "latency_note": "evaluate's own log-MMSE; whole signal"},
    }


def _rtf_1thread(enhance, waves: list[np.ndarray]) -> float:
    """Seconds of ``enhance`` per second of audio, on one torch thread, after a warm-up call."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        enhance(waves[0][:RATE])
        start = time.perf_counter()
        for wave in waves:
            enhance(wave)
        return (time.perf_counter() - start) / (sum(map(len, waves)) / RATE)
    finally:
        torch.set_num_threads(threads)


def _report(table: pd.DataFrame, runs: list[dict], own: dict[str, dict]) -> dict:
    """``peers.json``: per system the metrics (mean, 95% CI, count) and speed/latency/delay; per
    peer its paired difference from the model; the failed peers with their reasons."""
    systems = summary(table)
    info = {**own, **{run["name"]: {k: v for k, v in run.items() if k != "status"} for run in runs
                      if run["status"] == "ok"}}
    for name, extra in info.items():
        if name in systems:
            systems[name].update(extra)
    versus = {}
    for name in ok_names(runs):
        difference = paired_differences(table, name, "model")
        versus[name] = {key: value for metric in METRICS
                        for key, value in zip((metric, f"{metric}_ci95"), mean_ci(difference[metric])[:2])}
    failed = {run["name"]: run["error"] for run in runs if run["status"] != "ok"}
    return json_ready({"systems": {name: systems[name] for name in info if name in systems},
                        "peer_minus_model": versus, "failed": failed,
                        "mixtures": int(table["id"].nunique())})
