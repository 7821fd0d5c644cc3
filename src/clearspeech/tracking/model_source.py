"""Where ``clearspeech enhance`` and ``export`` get their model: a checkpoint file, a registered
model (``models:/<name>@<alias>`` or ``models:/<name>/<version>``) or a run (``runs:/<id>/model``
or a bare run id), the latter two from the MLflow store of :func:`clearspeech.tracking.store.tracking_uri`.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from clearspeech.core.errors import UserError
from clearspeech.models.checkpoint import CheckpointError, load_checkpoint

DEFAULT_MODEL = "models:/clearspeech@champion"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class ModelSourceError(UserError, ValueError):
    """A ``--model`` value that yields no usable model; the message names it and the cause."""


def repo_root(start: Path | None = None) -> Path:
    """The nearest folder from ``start`` (the cwd) upwards holding ``dvc.yaml`` or ``mlflow.db``;
    ``start`` itself when there is none. Runs are stored there (README, MLflow)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "dvc.yaml").is_file() or (folder / "mlflow.db").is_file():
            return folder
    return start


def model_uri(spec: str) -> str | None:
    """The MLflow URI that ``spec`` names, or None when it is not one."""
    if spec.startswith(("models:/", "runs:/")):
        return spec
    return f"runs:/{spec}/model" if _RUN_ID.match(spec) else None


def load_model_payload(spec: str) -> dict[str, Any]:
    """The checkpoint dict behind ``spec`` (see the module docstring); :class:`ModelSourceError` if none."""
    path = Path(spec).expanduser()
    uri = None if path.is_file() else model_uri(spec)
    if uri is None:
        try:
            return load_checkpoint(path)
        except CheckpointError as err:
            raise ModelSourceError(f"--model {err}") from err
    from clearspeech.tracking import store  # MLflow takes seconds to import; only registry models need it

    store.configure(repo_root(), fail_fast=True)
    with tempfile.TemporaryDirectory(prefix="clearspeech-model-") as folder:
        try:
            checkpoint = store.download_model_file(uri, "*.pt", Path(folder))
            return load_checkpoint(checkpoint)
        except (store.ModelNotFound, CheckpointError) as err:
            raise ModelSourceError(f"--model {err}") from err
