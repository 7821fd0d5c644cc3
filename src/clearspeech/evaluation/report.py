"""The evaluation report: one self-contained HTML page people open to look and listen.

Summary (each system's mean with its 95% interval, the paired gain over the noisy input),
tables per noise and per SNR, the gain per SNR and the training curve, then a few test examples
(noisy, enhanced, log-MMSE, clean) as spectrograms on one colour scale with players and scores.

Input tables are evaluate's long format (one row per mixture x system, see
:mod:`clearspeech.evaluation.summary`), with the intrusive ``METRICS`` and ``DNSMOS_METRICS``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from clearspeech.evaluation import html
from clearspeech.evaluation.dnsmos import DNSMOS_METRICS
from clearspeech.evaluation.metrics import METRICS
from clearspeech.evaluation.plots import plot_curve, plot_gain_by_snr, plot_spectrograms
from clearspeech.evaluation.summary import delta_by_snr, summary

ALL_METRICS = (*METRICS, *DNSMOS_METRICS)
LABELS = {"pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "estoi": "ESTOI", "si_sdr": "SI-SDR (dB)",
          "dnsmos_sig": "DNSMOS SIG", "dnsmos_bak": "DNSMOS BAK", "dnsmos_ovrl": "DNSMOS OVRL"}
# The example players' order and names: what a listener compares.
EXAMPLE_SIGNALS = {"noisy": "noisy", "model": "enhanced (model)", "logmmse": "log-MMSE", "clean": "clean"}


@dataclasses.dataclass(frozen=True)
class Example:
    """One test mixture to show: its key, ``{system or "clean": (samples,)}`` and its scores."""

    id: str
    noise: str
    snr: float
    signals: Mapping[str, np.ndarray]


def _present(scores: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    return [metric for metric in metrics if metric in scores and scores[metric].notna().any()]


def summary_table(scores: pd.DataFrame, metrics: Sequence[str], reference: str = "noisy") -> pd.DataFrame:
    """Rows: each system's mean ± 95% half-width, then ``<system> − noisy`` paired gains; ``n``
    counts the scored mixtures (refused ones are left out, not averaged)."""
    described = summary(scores, reference, metrics)
    rows = {}
    for name, entry in described.items():
        label = f"{name.removeprefix('improvement_')} − {reference}" if name.startswith("improvement_") else name
        rows[label] = {LABELS.get(m, m): _mean_ci(entry[m], entry[f"{m}_ci95"], entry[f"{m}_n"]) for m in metrics}
    return pd.DataFrame.from_dict(rows, orient="index")


def _mean_ci(mean: float, half: float, count: int) -> str:
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.3f} ± {half:.3f} (n={count})" if np.isfinite(half) else f"{mean:.3f} (n={count})"


def by_key_table(scores: pd.DataFrame, key: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean of each metric per ``key`` (noise or snr) and system: rows ``key``, columns metric x system."""
    systems = list(dict.fromkeys(scores["system"]))
    means = scores.groupby([key, "system"])[list(metrics)].mean().unstack("system")
    means = means.reindex(columns=pd.MultiIndex.from_product([list(metrics), systems]))
    return means.rename(columns=LABELS, level=0).rename_axis(key).rename_axis([None, None], axis="columns")


def _example_section(example: Example, scores: pd.DataFrame, rate: int, metrics: Sequence[str]) -> str:
    signals = {label: example.signals[key] for key, label in EXAMPLE_SIGNALS.items() if key in example.signals}
    title = f"{example.id}: {example.noise}, {example.snr:g} dB"
    spectrograms = html.figure_uri(lambda path: plot_spectrograms(signals, rate, path, title))
    own = scores[scores["id"] == example.id].set_index("system")[list(metrics)].rename(columns=LABELS).rename_axis(None)
    return html.section(title, html.players(signals, rate), html.image(spectrograms, f"spectrograms of {title}"),
                        html.table(own), level=3)


def write_evaluation_report(dest: str | Path, scores: pd.DataFrame, examples: Sequence[Example], rate: int,
                            curve: pd.DataFrame | None = None, title: str = "ClearSpeech evaluation",
                            extra: Sequence[str] = ()) -> None:
    """Write the report to ``dest``. ``scores``: the long table of every system (intrusive and
    DNSMOS columns); ``curve``: the training history (``epoch``, ``train_loss``, ``valid_loss``,
    ``lr``) or None; ``extra``: further HTML sections (e.g. a link to the peers' report)."""
    metrics = _present(scores, ALL_METRICS)
    mixtures = scores["id"].nunique()
    failed = scores[list(metrics)].isna().sum()
    failures = ", ".join(f"{LABELS[m]}: {int(n)}" for m, n in failed.items() if n)
    sections = [html.section(
        "Summary", html.note(f"{mixtures} test mixtures. Mean ± half-width of the 95% Student-t interval; gains are "
                             "paired per mixture. DNSMOS P.835 (SIG, BAK, OVRL) needs no clean reference."),
        html.table(summary_table(scores, metrics)),
        html.note(f"Scores refused and left out of the means: {failures}.") if failures else "")]
    sections.append(html.section("Per noise", html.table(by_key_table(scores, "noise", metrics))))
    sections.append(html.section("Per SNR (dB)", html.table(by_key_table(scores, "snr", metrics))))
    figures = []
    if "pesq_wb" in metrics:
        gains = delta_by_snr(scores, "pesq_wb")
        figures.append(html.image(html.figure_uri(lambda path: plot_gain_by_snr(gains, path)), "PESQ-WB gain per SNR"))
    if curve is not None and len(curve):
        figures.append(html.image(html.figure_uri(lambda path: plot_curve(curve, path)), "training curve"))
    if figures:
        sections.append(html.section("Figures", *figures))
    if examples:
        sections.append(html.section(
            "Examples", html.note("Spectrograms of one example share one colour scale (dB)."),
            *(_example_section(example, scores, rate, metrics) for example in examples)))
    html.write_page(dest, title, [*sections, *extra, html.note(
        "The peers stage writes its own page beside this one: peers.html (after `dvc repro peers`).")])


def write_peers_report(dest: str | Path, scores: pd.DataFrame, failed: Mapping[str, str], rate: int) -> None:
    """The peers stage's page: the same summary, tables and gain figure over every system that
    ran (noisy, model, log-MMSE, the peers), then the peers that failed and why."""
    reasons = [html.note(f"{name} failed: {reason}") for name, reason in failed.items()]
    write_evaluation_report(dest, scores, [], rate, title="ClearSpeech beside its peers",
                            extra=[html.section("Peers that failed", *reasons)] if reasons else [])
