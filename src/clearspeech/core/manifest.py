"""Manifests: the CSV files through which data moves between stages.

Columns whose name ends in ``path`` hold file paths. On disk they are stored relative to the
manifest's own folder, so a data folder can move (``dvc exp run --temp``, a copy on another
machine); in memory they are absolute.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from clearspeech.core.errors import UserError
from clearspeech.core.files import atomic_path


class ManifestError(UserError, ValueError):
    """A manifest that is missing, unreadable or lacks required columns."""


def _path_columns(frame: pd.DataFrame) -> list[str]:
    return [col for col in frame.columns if col.endswith("path")]


def write_manifest(frame: pd.DataFrame, dest: str | os.PathLike) -> None:
    """Write ``frame`` to ``dest`` atomically, with path columns relative to ``dest``'s folder."""
    dest = Path(dest)
    base = dest.parent.resolve()
    out = frame.copy()
    for col in _path_columns(out):
        out[col] = [os.path.relpath(Path(p).resolve(), base) for p in out[col]]
    with atomic_path(dest, suffix=".csv") as tmp:
        out.to_csv(tmp, index=False, float_format="%.6g")


def read_manifest(src: str | os.PathLike, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a manifest, resolving path columns to absolute paths; check ``required`` columns."""
    src = Path(src)
    if not src.is_file():
        raise ManifestError(f"{src}: manifest not found (run the stage that writes it first)")
    try:
        frame = pd.read_csv(src, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ManifestError(f"{src}: unreadable manifest ({err})") from err
    missing = [col for col in required if col not in frame.columns]
    if missing:
        raise ManifestError(f"{src}: manifest lacks columns {missing}")
    base = src.parent.resolve()
    for col in _path_columns(frame):
        frame[col] = [str((base / p).resolve()) for p in frame[col]]
    return frame
