"""What every stage script shares: reading its params.yaml section and logging setup."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TypeVar

import yaml

from clearspeech.config import from_mapping

T = TypeVar("T")


def load_section(params_file: str, section: str, cls: type[T]) -> T:
    """The ``section`` of ``params_file`` as the library's frozen config dataclass ``cls``."""
    params = yaml.safe_load(Path(params_file).read_text(encoding="utf-8")) or {}
    if section not in params:
        raise SystemExit(f"{params_file}: no '{section}' section")
    return from_mapping(cls, params[section])


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
