"""What every stage script shares: its params.yaml section, logging, and clean failures.

It imports nothing heavy (no torch, no model): every stage loads it, even ``split``.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from clearspeech.core.config import from_mapping
from clearspeech.core.errors import UserError

T = TypeVar("T")

log = logging.getLogger("stage")


@functools.cache
def load_params(params_file: str) -> dict:
    """The whole parameters file, parsed once per process (stages read several sections)."""
    return yaml.safe_load(Path(params_file).read_text(encoding="utf-8")) or {}


def read_keys(params_file: str, section: str, keys: tuple[str, ...] | None = None) -> dict:
    """``keys`` of ``section`` (all of it when None): what the stage declares in dvc.yaml, no more."""
    params = load_params(params_file)
    if section not in params:
        raise SystemExit(f"{params_file}: no '{section}' section")
    values = params[section] or {}
    if keys is None:
        return dict(values)
    missing = [key for key in keys if key not in values]
    if missing:
        raise SystemExit(f"{params_file}: section '{section}' has no {missing}")
    return {key: values[key] for key in keys}


def as_config(params_file: str, section: str, cls: type[T], values: dict) -> T:
    """``values`` (read from ``section``) as the library's frozen config dataclass ``cls``."""
    try:
        return from_mapping(cls, values)
    except ValueError as err:
        raise SystemExit(f"{params_file}: section '{section}': {err}") from err


def load_section(params_file: str, section: str, cls: type[T], keys: tuple[str, ...] | None = None) -> T:
    """The ``section`` of ``params_file`` (only ``keys`` of it, if given) as dataclass ``cls``."""
    return as_config(params_file, section, cls, read_keys(params_file, section, keys))


def stage(func: Callable[..., None]) -> Callable[..., None]:
    """Set up logging and turn expected failures into one error line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
        try:
            func(*args, **kwargs)
        except UserError as err:  # the user's data, params or network: one line, no traceback
            log.error("%s", err)
            sys.exit(1)

    return wrapper
