"""``clearspeech enhance --report``: how users' own files sounded before and after, with no clean
reference: DNSMOS P.835 of input and output per file, totals, and for the first few files
before/after spectrograms and players, in one self-contained HTML page.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from clearspeech.core.audio import AudioError, load_mono
from clearspeech.evaluation import html
from clearspeech.evaluation.dnsmos import DNSMOS_METRICS, RATE, score_or_reason
from clearspeech.evaluation.plots import plot_spectrograms
from clearspeech.evaluation.report import LABELS

log = logging.getLogger(__name__)

# The players and spectrograms show the first seconds only: a report of hour-long files stays small.
LISTEN_SECONDS = 20.0


@dataclasses.dataclass(frozen=True)
class EnhanceReport:
    """What the report says in one line, and the per-file table it holds."""

    files: int
    refused: list[str]
    table: pd.DataFrame

    def line(self, dest: Path) -> str:
        columns = [f"{side} {LABELS['dnsmos_ovrl']}" for side in ("input", "output")]
        both = self.table.reindex(columns=columns).dropna()
        if both.empty:
            return f"{dest}: report of {self.files} files; DNSMOS scored none of them"
        before, after = both.mean()
        return (f"{dest}: report of {self.files} files, mean DNSMOS OVRL {before:.2f} -> {after:.2f} "
                f"over {len(both)} scored; {len(self.refused)} scores refused")


def _scores(signal: np.ndarray, name: Path) -> tuple[dict[str, float], str]:
    result = score_or_reason(signal, RATE)
    if isinstance(result, str):
        return dict.fromkeys(DNSMOS_METRICS, np.nan), f"{name}: {result}"
    return result, ""


def write_enhance_report(dest: Path, pairs: Sequence[tuple[Path, Path]], players: int = 3) -> EnhanceReport:
    """Score each ``(input, output)`` file pair with DNSMOS (mono mix at 16 kHz) and write ``dest``.

    A file DNSMOS cannot judge (too short, silent) gets its reason in the table and in
    :attr:`EnhanceReport.refused`, never a number in the totals.
    """
    rows, refused, sections = [], [], []
    for index, (source, output) in enumerate(pairs):
        try:
            before, after = load_mono(source, RATE), load_mono(output, RATE)
        except AudioError as err:
            refused.append(str(err))
            continue
        row = {"file": source.name, "seconds": len(before) / RATE}
        for side, signal, path in (("input", before, source), ("output", after, output)):
            values, reason = _scores(signal, path)
            row.update({f"{side} {LABELS[m]}": value for m, value in values.items()})
            if reason:
                refused.append(reason)
                row["note"] = reason
        rows.append(row)
        if index < players:
            shown = {"input": before[: int(LISTEN_SECONDS * RATE)], "output": after[: int(LISTEN_SECONDS * RATE)]}
            figure = html.figure_uri(lambda path, s=shown, t=source.name: plot_spectrograms(s, RATE, path, t))
            sections.append(html.section(str(source.name), html.players(shown, RATE),
                                         html.image(figure, f"spectrograms of {source.name}"), level=3))
    table = pd.DataFrame(rows)
    for column in ("note",):
        if column in table:
            table[column] = table[column].fillna("")
    totals = table.drop(columns=["file", "note"], errors="ignore").mean(numeric_only=True).to_frame("mean").T
    parts = [html.section("Totals", html.note(f"{len(table)} files; DNSMOS P.835 (1..5, higher is better) of "
                                               "the input and the enhanced output, no clean reference needed; "
                                               "files DNSMOS refused are left out of the means."),
                          html.table(totals)),
             html.section("Per file", html.table(table, index=False))]
    if refused:
        parts.append(html.section("Not scored", *(html.note(reason) for reason in refused)))
    if sections:
        parts.append(html.section(f"Listen (first {LISTEN_SECONDS:g} s of the first {len(sections)} files)",
                                  *sections))
    html.write_page(dest, "ClearSpeech enhance report", parts)
    return EnhanceReport(len(pairs), refused, table)
