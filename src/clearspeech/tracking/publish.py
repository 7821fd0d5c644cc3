"""What the train and evaluate stages show in MLflow: runs, curves, examples, the registry.

Everything here goes through :mod:`clearspeech.tracking.store` (the one module that talks to MLflow);
nothing here is read back by the pipeline. Per-epoch logging failures only warn: a side channel
must not kill a long training run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clearspeech.core.audio import load_mono, write_audio
from clearspeech.core.config import at_least, non_empty, validate
from clearspeech.evaluation.examples import pick_examples
from clearspeech.evaluation.plots import plot_curve, plot_spectrograms
from clearspeech.tracking import store

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MlflowConfig:
    """The ``mlflow`` section of ``params.yaml``."""

    experiment: str = "clearspeech"
    registered_model: str = "clearspeech"
    examples: int = 3

    def __post_init__(self) -> None:
        validate(self, "mlflow", experiment=non_empty, registered_model=non_empty, examples=at_least(0))

@contextlib.contextmanager
def training_run(repo_root: Path, experiment: str, params: Mapping[str, Any]) -> Iterator[str]:
    """The pipeline execution's run in ``experiment`` with ``params`` (the values the train stage
    read, nothing more), named ``<arch>-<DVC experiment>`` (or ``<arch>`` for a plain ``dvc
    repro``) and tagged with both, in an experiment the UI opens on its runs; ended FINISHED,
    FAILED or KILLED with the block. Open it only once every params section is valid."""
    store.configure(repo_root)
    store.mark_model_training(experiment)
    arch = str(params.get("model", {}).get("arch", "model"))
    dvc_experiment = os.environ.get("DVC_EXP_NAME") or ""
    tags = {**store.run_tags(repo_root), "arch": arch, "experiment": dvc_experiment or "workspace"}
    run_id = store.start_train_run(experiment, "-".join(filter(None, [arch, dvc_experiment])), params, tags)
    with store.ended_run(run_id):
        yield run_id


def system_metrics(run_id: str):
    """Context manager: the machine's CPU/memory/disk/GPU into ``run_id`` while training runs."""
    return store.system_metrics(run_id)


def log_training_inputs(repo_root: Path, run_id: str, features_dir: Path) -> None:
    """The feature store's manifests as the run's datasets, tagged with the DVC stage hashes."""
    try:
        store.log_feature_inputs(run_id, features_dir, store.dvc_stage_hashes(repo_root))
    except Exception as err:  # noqa: BLE001 - the side channel must not stop training
        log.warning("MLflow: feature-store inputs not logged (%s)", err)


def epoch_logger(run_id: str) -> Callable[[dict[str, float]], None]:
    """``on_epoch`` callback for the trainer."""
    def log_epoch(row: dict[str, float]) -> None:
        try:
            store.log_epoch(run_id, row)
        except Exception as err:  # noqa: BLE001 - any tracking failure is only a warning here
            log.warning("MLflow: epoch %s not logged (%s)", row.get("epoch"), err)
    return log_epoch


def finish_training(run_id: str, model_path: Path, summary: Mapping[str, Any], curve_csv: Path) -> None:
    """Tag the run with the model's hash, log the summary and the learning curve."""
    store.tag_model(run_id, model_path)
    store.log_metrics(run_id, {f"train.{k}": v for k, v in summary.items() if isinstance(v, int | float)})
    with tempfile.TemporaryDirectory() as tmp:
        figure = Path(tmp) / "train_curve.png"
        plot_curve(pd.read_csv(curve_csv), figure)
        store.log_artifacts(run_id, [curve_csv, figure], "training")


def publish_evaluation(repo_root: Path, cfg: MlflowConfig, model_path: Path, report: Mapping[str, Any],
                       test: pd.DataFrame, enhanced_dir: Path, reports: list[Path], arch: str,
                       rate: int) -> store.RegisteredResult:
    """Log scores, the ``reports`` files and a few audio examples into the model's run, register
    the model."""
    store.configure(repo_root)
    run_id = store.evaluate_run(cfg.experiment, model_path, os.environ.get("DVC_EXP_NAME") or None,
                                store.run_tags(repo_root))
    with store.ended_run(run_id):
        return _publish(run_id, cfg, model_path, report, test, enhanced_dir, reports, arch, rate)


def _publish(run_id: str, cfg: MlflowConfig, model_path: Path, report: Mapping[str, Any], test: pd.DataFrame,
             enhanced_dir: Path, reports: list[Path], arch: str, rate: int) -> store.RegisteredResult:
    flat = {f"{system}.{key}": value for system, values in report.items() for key, value in values.items()
            if isinstance(value, int | float) and value == value}
    store.log_metrics(run_id, flat)
    store.log_artifacts(run_id, reports, "evaluation")
    with tempfile.TemporaryDirectory() as tmp:
        store.log_artifacts(run_id, _examples(test, enhanced_dir, cfg.examples, Path(tmp), rate), "examples")
    model = report["model"]
    tags = {"arch": arch, **{f"test_{key}": f"{model[key]:.4f}" for key in ("pesq_wb", "stoi", "si_sdr")}}
    return store.register_model(run_id, model_path, cfg.registered_model, tags, model["valid_pesq_wb"])


def _examples(test: pd.DataFrame, enhanced_dir: Path, count: int, tmp: Path, rate: int) -> list[Path]:
    """Noisy / enhanced / clean audio and a spectrogram figure for ``count`` test mixtures spread
    evenly over the test set in id order (so different speakers, noises and SNRs)."""
    paths = []
    for row in pick_examples(test, count).itertuples():
        signals = {"noisy": load_mono(row.noisy_path, rate),
                   "enhanced": load_mono(enhanced_dir / "model" / f"{row.id}.wav", rate),
                   "clean": load_mono(row.clean_path, rate)}
        folder = tmp / row.id
        for name, signal in signals.items():
            # 16-bit for the browser's player; clipping a rare overshoot is fine for listening.
            write_audio(folder / f"{name}.wav", np.clip(signal, -1.0, 1.0), rate, "PCM_16")
        plot_spectrograms(signals, rate, folder / "spectrograms.png", row.id)
        paths.append(folder)
    return paths
