"""The peers stage's reports: ``peers.json``, per-condition CSV, a plot CSV, a markdown table.

``table`` is the long per-mixture table of :mod:`clearspeech.evaluation.summary` (``id``, ``noise``,
``snr``, ``system``, one column per metric); ``report`` is :func:`clearspeech.peers.compare`'s
``peers.json`` dict.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd

from clearspeech.core.files import atomic_path, write_text_atomic
from clearspeech.evaluation.metrics import METRICS
from clearspeech.evaluation.summary import by_condition

HEADERS = {"pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "estoi": "ESTOI", "si_sdr": "SI-SDR (dB)"}
DIGITS = {"pesq_wb": 2, "pesq_nb": 2, "stoi": 3, "estoi": 3, "si_sdr": 1}


@dataclasses.dataclass(frozen=True)
class PeersReports:
    """Where the peers stage writes its reports (its outs, passed from ``dvc.yaml``)."""

    summary: Path  # per system its metrics, speed, latency and delay; the failed peers (JSON)
    table: Path  # the side-by-side markdown table
    by_condition: Path  # means per noise x SNR x system (CSV)
    plot: Path  # one row per system, the plot CSV

    @classmethod
    def in_folder(cls, folder: Path) -> PeersReports:
        """The command line's layout: every report in ``folder`` under its usual name."""
        return cls(folder / "peers.json", folder / "peers_table.md", folder / "peers_by_condition.csv",
                   folder / "peers_summary.csv")


def json_ready(value):
    """NaN and infinities become null (JSON has none), through nested dicts and lists."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_ready(item) for item in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def summary_frame(report: dict) -> pd.DataFrame:
    """One row per system: its mean metrics, real-time factor, latency and delay (the plot CSV)."""
    rows = [{"system": name, **{metric: values.get(metric) for metric in METRICS},
             **{key: values.get(key) for key in ("rtf_1thread", "latency_ms", "delay_ms")}}
            for name, values in report["systems"].items()]
    return pd.DataFrame(rows)


def _number(value, digits: int, unit: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def markdown_table(report: dict) -> str:
    """The side-by-side table: every system's means, speed, latency and measured delay, then the
    peers that failed with their reasons."""
    head = ["system", *HEADERS.values(), "RTF, 1 thread", "latency", "measured delay"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for name, values in report["systems"].items():
        latency = values.get("latency_ms")
        cells = [f"`{name}`" + (f" ({values['package']} {values['version']})" if values.get("package") else ""),
                 *(_number(values.get(metric), DIGITS[metric]) for metric in METRICS),
                 _number(values.get("rtf_1thread"), 3),
                 "offline" if latency is None else f"{latency:.0f} ms",
                 _number(values.get("delay_ms"), 1, " ms")]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Means over {report['mixtures']} test mixtures.")
    for name, reason in report["failed"].items():
        lines.append(f"- `{name}` failed: {reason}")
    return "\n".join(lines) + "\n"


def write_reports(table: pd.DataFrame, report: dict, reports: PeersReports) -> None:
    """The summary JSON, the markdown table, the per-condition and the plot CSV."""
    write_text_atomic(reports.summary, json.dumps(report, indent=2) + "\n")
    write_text_atomic(reports.table, markdown_table(report))
    for path, frame in ((reports.by_condition, by_condition(table)), (reports.plot, summary_frame(report))):
        with atomic_path(path, suffix=".csv") as tmp:
            frame.to_csv(tmp, index=False, float_format="%.4f")
