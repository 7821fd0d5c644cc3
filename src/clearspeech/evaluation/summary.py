"""Summaries of per-utterance scores: means with 95% confidence intervals, per condition.

The input is a long table with one row per (mixture, system): columns ``id``, ``noise``,
``snr``, ``system`` and one column per metric (NaN where the metric failed, so a failure is
excluded from every mean and counted instead).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from clearspeech.evaluation.metrics import METRICS


def mean_ci(values: pd.Series) -> tuple[float, float, int]:
    """Mean, half-width of its two-sided 95% Student-t interval, and count (NaNs dropped)."""
    data = values.dropna().to_numpy(dtype=np.float64)
    if len(data) == 0:
        return float("nan"), float("nan"), 0
    if len(data) == 1:
        return float(data[0]), float("nan"), 1
    half = stats.t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / np.sqrt(len(data))
    return float(data.mean()), float(half), len(data)


def paired_differences(scores: pd.DataFrame, system: str, baseline: str = "noisy",
                       metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Per-mixture ``system - baseline`` for every metric, indexed by mixture id."""
    wide = scores.set_index(["id", "system"])[list(metrics)].unstack("system")
    return pd.DataFrame({metric: wide[(metric, system)] - wide[(metric, baseline)] for metric in metrics})


def summary(scores: pd.DataFrame, reference: str = "noisy", metrics: Sequence[str] = METRICS) -> dict:
    """``{system: {metric, metric_ci95, metric_n}}`` plus ``improvement_<system>`` (paired,
    against ``reference``) for every other system; the dict written to ``eval.json``."""
    out: dict[str, dict[str, float]] = {}
    for system, group in scores.groupby("system", sort=False):
        out[system] = _described(group, metrics)
    for system in out.copy():
        if system != reference:
            out[f"improvement_{system}"] = _described(paired_differences(scores, system, reference, metrics), metrics)
    return out


def _described(frame: pd.DataFrame, metrics: Sequence[str] = METRICS) -> dict[str, float]:
    entry: dict[str, float] = {}
    for metric in metrics:
        mean, half, count = mean_ci(frame[metric])
        entry.update({metric: mean, f"{metric}_ci95": half, f"{metric}_n": count})
    failed = int(frame[list(metrics)].isna().sum().sum())
    entry["failed_scores"] = failed
    return entry


def by_condition(scores: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean of every metric per system x noise x SNR, plus rows with noise ``all`` per system x SNR."""
    tables = []
    for keys in (["system", "noise", "snr"], ["system", "snr"]):
        grouped = scores.groupby(keys)
        table = grouped[list(metrics)].mean().join(grouped.size().rename("mixtures")).reset_index()
        tables.append(table if "noise" in keys else table.assign(noise="all"))
    return pd.concat(tables, ignore_index=True)[["system", "noise", "snr", "mixtures", *metrics]]


def delta_by_snr(scores: pd.DataFrame, metric: str = "pesq_wb", reference: str = "noisy") -> pd.DataFrame:
    """Mean paired improvement of ``metric`` over ``reference`` per SNR: columns ``snr`` and
    ``<system>`` for every other system (one column per line of a DVC plot)."""
    snr = scores.drop_duplicates("id").set_index("id")["snr"]
    columns = {}
    for system in scores["system"].unique():
        if system != reference:
            delta = paired_differences(scores, system, reference)[metric]
            columns[system] = delta.groupby(snr.reindex(delta.index)).mean()
    return pd.DataFrame(columns).rename_axis("snr").reset_index()
