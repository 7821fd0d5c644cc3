"""The evaluate stage: enhance the test mixtures, score every system, summarise.

Systems: ``noisy`` (the input itself), ``model`` (the trained checkpoint) and ``logmmse`` (the
Ephraim-Malah log-spectral amplitude estimator, a classical statistical baseline). Enhanced
test wavs are written as 32-bit float; metrics are computed over worker processes.

Champion selection never looks at the test set: the model's PESQ-WB on a fixed, evenly spread
subset of validation mixtures (``valid_pesq_wb``) is what the registry compares.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from clearspeech.core.audio import load_mono, write_audio
from clearspeech.core.config import at_least, validate
from clearspeech.core.device import device_rule, resolve_device
from clearspeech.core.files import atomic_dir, atomic_path, write_text_atomic
from clearspeech.evaluation import logmmse
from clearspeech.evaluation.dnsmos import DNSMOS_METRICS, dnsmos_table
from clearspeech.evaluation.examples import pick_examples
from clearspeech.evaluation.metrics import METRICS, score_many
from clearspeech.evaluation.report import Example, write_evaluation_report
from clearspeech.evaluation.summary import by_condition, delta_by_snr, summary
from clearspeech.inference.enhancer import Enhancer

log = logging.getLogger(__name__)

SYSTEMS = ("noisy", "model", "logmmse")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """The ``evaluate`` section of ``params.yaml``."""

    device: str = "auto"
    threads: int = 0
    workers: int = 0
    valid_mixtures: int = 150

    def __post_init__(self) -> None:
        validate(self, "evaluate", device=device_rule, threads=at_least(0), workers=at_least(0),
                 valid_mixtures=at_least(1))


@dataclasses.dataclass(frozen=True)
class EvaluationReports:
    """Where evaluate writes its reports (the stage's outs, passed from ``dvc.yaml``)."""

    summary: Path  # per system the mean metrics and intervals (``eval.json``)
    by_condition: Path  # means per noise x SNR x system (CSV)
    delta_pesq_by_snr: Path  # PESQ-WB gain over noisy per SNR, model and log-MMSE (the plot CSV)
    utterances: Path  # the long per-mixture table the peers stage reuses (CSV)
    dnsmos: Path  # DNSMOS per system, paired gains and the refused clips (JSON)


def evaluate(manifest: pd.DataFrame, checkpoint: str | Path, cfg: EvaluateConfig, enhanced_dir: str | Path,
             reports: EvaluationReports, report_path: str | Path | None = None, examples: int = 3,
             curve: pd.DataFrame | None = None) -> dict:
    """Score the test split, write ``reports`` (and the HTML report with ``examples`` listening
    examples and the training ``curve`` to ``report_path``); returns the summary's dict."""
    enhancer = Enhancer.from_checkpoint(checkpoint, resolve_device(cfg.device, cfg.threads))
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    with atomic_dir(enhanced_dir) as staging:
        outputs = _enhance_all(test, enhancer, staging)
    rate = enhancer.sample_rate
    pairs = [(systems[name], clean) for clean, systems in outputs for name in SYSTEMS]
    scores = score_many(tqdm(pairs, desc="score test", unit="pair"), rate, cfg.workers)
    table = _scores_table(test, scores)
    report = summary(table)
    report["model"]["valid_pesq_wb"] = validation_pesq(manifest, enhancer, cfg)
    _write_reports(table, report, reports)
    dnsmos = dnsmos_table(table[["id", "noise", "snr", "system"]],
                          [systems[name] for _, systems in outputs for name in SYSTEMS], rate, cfg.workers)
    _write_dnsmos(dnsmos, reports.dnsmos)
    if report_path is not None:
        scores = table.merge(dnsmos.drop(columns=["noise", "snr"]), on=["id", "system"])
        write_evaluation_report(report_path, scores, _examples(test, outputs, examples), rate, curve)
    log.info("PESQ-WB noisy %.3f, model %.3f, logmmse %.3f", *(report[s]["pesq_wb"] for s in SYSTEMS))
    return report


def _enhance_all(test: pd.DataFrame, enhancer: Enhancer, out_dir: Path) -> list[tuple[np.ndarray, dict]]:
    """For each mixture its clean signal and ``{system: signal}``; writes model and logmmse wavs."""
    rate = enhancer.sample_rate
    outputs = []
    for row in tqdm(test.itertuples(), total=len(test), desc="enhance test", unit="mix"):
        noisy, clean = load_mono(row.noisy_path, rate), load_mono(row.clean_path, rate)
        systems = {"noisy": noisy, "model": enhancer.enhance(noisy), "logmmse": logmmse.enhance(noisy, rate)}
        for name in ("model", "logmmse"):
            write_audio(out_dir / name / f"{row.id}.wav", systems[name], rate, "FLOAT")
        outputs.append((clean, systems))
    return outputs


def _scores_table(test: pd.DataFrame, scores: list) -> pd.DataFrame:
    """Long table: one row per mixture x system, NaN and a reason where a metric failed."""
    rows = []
    for position, result in enumerate(scores):
        mixture = test.iloc[position // len(SYSTEMS)]
        errors = "; ".join(f"{metric}: {reason}" for metric, reason in result.errors.items())
        if errors:
            log.warning("%s (%s): %s", mixture["id"], SYSTEMS[position % len(SYSTEMS)], errors)
        rows.append({"id": mixture["id"], "noise": mixture["noise"], "snr": mixture["snr"],
                     "system": SYSTEMS[position % len(SYSTEMS)],
                     **{metric: result.values.get(metric, np.nan) for metric in METRICS}, "errors": errors})
    return pd.DataFrame(rows)


def validation_pesq(manifest: pd.DataFrame, enhancer: Enhancer, cfg: EvaluateConfig) -> float:
    """Mean PESQ-WB of the model on ``cfg.valid_mixtures`` evenly spread validation mixtures."""
    valid = manifest[manifest["split"] == "valid"].sort_values("id").reset_index(drop=True)
    if valid.empty or cfg.valid_mixtures <= 0:
        return float("nan")
    picked = valid.iloc[np.unique(np.linspace(0, len(valid) - 1, min(cfg.valid_mixtures, len(valid))).astype(int))]
    rate = enhancer.sample_rate
    pairs = []
    for row in tqdm(picked.itertuples(), total=len(picked), desc="enhance valid", unit="mix"):
        pairs.append((enhancer.enhance(load_mono(row.noisy_path, rate)), load_mono(row.clean_path, rate)))
    values = [s.values["pesq_wb"] for s in score_many(pairs, rate, cfg.workers) if "pesq_wb" in s.values]
    return float(np.mean(values)) if values else float("nan")


def _json_ready(value):
    """NaN (an empty mean or a single-value interval) becomes null: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    return None if isinstance(value, float) and not np.isfinite(value) else value


def _examples(test: pd.DataFrame, outputs: list[tuple[np.ndarray, dict]], count: int) -> list[Example]:
    position = {mixture_id: index for index, mixture_id in enumerate(test["id"])}
    picked = []
    for row in pick_examples(test, count).itertuples():
        clean, systems = outputs[position[row.id]]
        picked.append(Example(row.id, row.noise, float(row.snr), {**systems, "clean": clean}))
    return picked


def _write_dnsmos(dnsmos: pd.DataFrame, path: Path) -> None:
    """``path`` (``eval_dnsmos.json``): DNSMOS per system (mean, 95% CI, count; paired gain over noisy) and
    the clips DNSMOS refused, with the reason (never averaged)."""
    report = summary(dnsmos, metrics=DNSMOS_METRICS)
    refused = dnsmos[dnsmos["dnsmos_error"] != ""]
    report["refused"] = {f"{row.id}/{row.system}": row.dnsmos_error for row in refused.itertuples()}
    write_text_atomic(path, json.dumps(_json_ready(report), indent=2) + "\n")


def _write_reports(table: pd.DataFrame, report: dict, reports: EvaluationReports) -> None:
    write_text_atomic(reports.summary, json.dumps(_json_ready(report), indent=2) + "\n")
    for path, frame in ((reports.by_condition, by_condition(table)),
                        (reports.delta_pesq_by_snr, delta_by_snr(table)),
                        (reports.utterances, table)):
        with atomic_path(path, suffix=".csv") as tmp:
            frame.to_csv(tmp, index=False, float_format="%.4f")
