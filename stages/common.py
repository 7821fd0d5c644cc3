"""What every stage script shares: its params.yaml section, logging, and clean failures."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from clearspeech.core.audio import AudioError
from clearspeech.core.config import from_mapping
from clearspeech.core.manifest import ManifestError
from clearspeech.data.archives import ArchiveError
from clearspeech.data.download import CorpusError
from clearspeech.data.fetch import DownloadError
from clearspeech.data.split import SplitError
from clearspeech.models.checkpoint import CheckpointError
from clearspeech.training.trainer import TrainingDiverged

T = TypeVar("T")

# Problems with the user's data, params or network: one clear line, not a traceback.
USER_ERRORS = (ArchiveError, AudioError, CheckpointError, CorpusError, DownloadError, ManifestError, SplitError,
               TrainingDiverged)

log = logging.getLogger("stage")


@functools.cache
def load_params(params_file: str) -> dict:
    """The whole parameters file, parsed once per process (stages read several sections)."""
    return yaml.safe_load(Path(params_file).read_text(encoding="utf-8")) or {}


def load_section(params_file: str, section: str, cls: type[T]) -> T:
    """The ``section`` of ``params_file`` as the library's frozen config dataclass ``cls``."""
    params = load_params(params_file)
    if section not in params:
        raise SystemExit(f"{params_file}: no '{section}' section")
    try:
        return from_mapping(cls, params[section])
    except ValueError as err:
        raise SystemExit(f"{params_file}: section '{section}': {err}") from err


def stage(func: Callable[..., None]) -> Callable[..., None]:
    """Set up logging and turn expected failures into one error line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
        try:
            func(*args, **kwargs)
        except USER_ERRORS as err:
            log.error("%s", err)
            sys.exit(1)

    return wrapper
