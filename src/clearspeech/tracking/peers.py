"""Showing the side-by-side comparison in MLflow, in the run of the model it compares.

Goes through :mod:`clearspeech.tracking.store` only. A side channel: any failure is a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

from clearspeech.tracking import store

log = logging.getLogger(__name__)


def publish_peers(repo_root: Path, experiment: str, model_path: Path, report: dict, files: list[Path]) -> str | None:
    """Log ``files`` under ``peers/`` and each system's mean metrics as ``peers.<system>.<metric>``
    in the MLflow run of ``model_path``; the run id, or None when there is none (or it failed)."""
    try:
        store.configure(repo_root)
        run_id = store.find_run_for_model(experiment, model_path)
        if run_id is None:
            log.warning("MLflow: no run in %r holds %s; the comparison is not logged", experiment, model_path)
            return None
        flat = {f"peers.{name}.{key}": value for name, values in report["systems"].items()
                for key, value in values.items()
                if key in ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "rtf_1thread")
                and isinstance(value, int | float)}
        store.log_metrics(run_id, flat)
        store.log_artifacts(run_id, files, "peers")
    except Exception as err:  # noqa: BLE001 - tracking must not fail a finished comparison
        log.warning("MLflow: peers comparison not logged (%s)", err)
        return None
    log.info("MLflow: peers comparison logged into run %s", run_id)
    return run_id
