"""MLflow side channel: the only module that logs to MLflow.

MLflow records what the DVC pipeline did (params, per-epoch curves, scores, the model in the
registry) but is never read back to produce a pipeline output. One MLflow run covers one
pipeline execution: the train stage creates it and tags it with the checkpoint's sha256, the
evaluate stage (another process) finds it by that hash and logs into it.

Call :func:`configure` once per process before anything else here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import mlflow
import numpy as np
import yaml
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.types.schema import Schema, TensorSpec

from clearspeech.core.errors import UserError
from clearspeech.core.files import file_digest

log = logging.getLogger(__name__)

MODEL_TAG = "clearspeech.model_sha256"
CHAMPION = "champion"
EPOCH_KEYS = ("train_loss", "valid_loss", "lr", "seconds")
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_MODEL_CODE = Path(__file__).resolve().parent / "pyfunc_model.py"
# Any batch size and length: the Enhancer pads short inputs, so no fixed shape (unlike torch.export).
_WAVES = Schema([TensorSpec(np.dtype(np.float32), (-1, -1))])
SIGNATURE = ModelSignature(inputs=_WAVES, outputs=_WAVES)
INPUT_EXAMPLE = (0.01 * np.random.default_rng(0).standard_normal((1, 8000))).astype(np.float32)


def tracking_uri(repo_root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else an absolute sqlite path in the repository root.

    ``dvc exp run --temp/--queue`` runs stages in a copy under ``.dvc/tmp/exps``; DVC then sets
    ``DVC_ROOT`` to the parent repository, so that root wins over ``repo_root`` and every
    experiment lands in the one ``mlflow.db``.
    """
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    root = Path(os.environ.get("DVC_ROOT") or repo_root)
    return "sqlite:///" + str((root / "mlflow.db").resolve())


def configure(repo_root: Path, fail_fast: bool = False) -> str:
    """Point tracking and registry at :func:`tracking_uri`; returns the URI.

    ``fail_fast`` (interactive commands): an HTTP server that does not answer fails within
    seconds instead of MLflow's default 5 retries with backoff and 120 s timeouts (minutes);
    the user's own ``MLFLOW_HTTP_REQUEST_*`` settings win.
    """
    uri = tracking_uri(repo_root)
    if fail_fast and uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def store_exists(uri: str) -> bool:
    """False for a sqlite URI whose file is missing (MLflow would silently create an empty store)."""
    if not uri.startswith("sqlite:///"):
        return True
    return Path(uri.removeprefix("sqlite:///").split("?")[0]).is_file()


class ModelNotFound(UserError, LookupError):
    """A model URI that the tracking store cannot resolve; the message says which and why."""


def download_model_file(model_uri: str, pattern: str, dest: Path) -> Path:
    """Download the logged model ``model_uri`` (``models:/name@alias``, ``models:/name/3``,
    ``runs:/<id>/model``) into ``dest`` and return its one artifact matching ``pattern``."""
    uri = mlflow.get_tracking_uri()
    if not store_exists(uri):
        raise ModelNotFound(f"{model_uri}: no MLflow store at {uri} (run `uv run dvc repro` to train and "
                            "register a model, set MLFLOW_TRACKING_URI, or pass a checkpoint file)")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dest)))
    except MlflowException as err:
        raise ModelNotFound(f"{model_uri}: {err.message} (tracking store {uri})") from err
    found = sorted(local.rglob(pattern))
    if len(found) != 1:
        raise ModelNotFound(f"{model_uri}: expected one {pattern} in the logged model, found {len(found)}")
    return found[0]


def flatten(params: Mapping, prefix: str = "") -> dict[str, str]:
    """Nested params sections -> ``{"section.key": "value"}``; lists keep their ``str`` form."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def _git(repo_root: Path, *args: str) -> str | None:
    """stdout of a git command in ``repo_root``, or None when git is missing or fails."""
    try:
        done = subprocess.run(["git", "-C", str(repo_root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _features_hash(repo_root: Path) -> str:
    """md5 of the ``data/features`` out of stage ``features`` in ``dvc.lock``, or ``""``."""
    try:
        lock = yaml.safe_load((repo_root / "dvc.lock").read_text(encoding="utf-8"))
        outs = lock["stages"]["features"]["outs"]
        return next((out["md5"] for out in outs if out.get("path") == "data/features"), "")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return ""


def run_tags(repo_root: Path) -> dict[str, str]:
    """Provenance tags: git commit and dirtiness, DVC experiment and feature-store hash.

    ``dvc exp run`` (workspace, ``--temp`` and ``--queue`` alike) passes ``DVC_EXP_NAME`` and
    ``DVC_EXP_BASELINE_REV`` to every stage command (dvc/repo/experiments/queue/base.py);
    plain ``dvc repro`` sets neither. Untracked files count as dirty: they can change a result.
    """
    status = _git(repo_root, "status", "--porcelain")
    return {
        "git.commit": _git(repo_root, "rev-parse", "HEAD") or "unknown",
        "git.dirty": "unknown" if status is None else str(bool(status)).lower(),
        "dvc.experiment": os.environ.get("DVC_EXP_NAME", ""),
        "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""),
        "dvc.features_hash": _features_hash(repo_root),
    }


def _artifact_root() -> str | None:
    """Artifacts beside a sqlite store (``mlartifacts/``); MLflow's default is ``./mlruns`` in the
    cwd, which a ``--temp`` experiment throws away. A server picks its own root (None)."""
    uri = mlflow.get_tracking_uri()
    if not uri.startswith("sqlite:///"):
        return None
    # What follows "sqlite:///" is the path as SQLAlchemy reads it: absolute if it starts with "/".
    database = Path(uri.removeprefix("sqlite:///").split("?")[0]).resolve()
    return (database.parent / "mlartifacts").as_uri()


def _experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, created if missing (tolerating a concurrent creator)."""
    if found := client.get_experiment_by_name(name):
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=_artifact_root())
    except MlflowException as err:
        if err.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
        return client.get_experiment_by_name(name).experiment_id


def _create_run(experiment: str, run_name: str | None, tags: Mapping[str, str]) -> str:
    client = MlflowClient()
    run = client.create_run(_experiment_id(client, experiment), run_name=run_name,
                            tags={key: str(value) for key, value in tags.items()})
    log.info("MLflow run %s in experiment %r", run.info.run_id, experiment)
    return run.info.run_id


def start_train_run(experiment: str, run_name: str | None, params: Mapping, tags: Mapping) -> str:
    """Create the pipeline execution's run with flattened ``params`` and ``tags``; its id."""
    run_id = _create_run(experiment, run_name, tags)
    # The client splits a batch into the store's 100-param chunks itself.
    MlflowClient().log_batch(run_id, params=[Param(key, value) for key, value in flatten(params).items()])
    return run_id


def log_metrics(run_id: str, metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log ``metrics`` in one batch at ``step`` (0 when None)."""
    now = int(time.time() * 1000)
    batch = [Metric(key, float(value), now, step or 0) for key, value in metrics.items()]
    MlflowClient().log_batch(run_id, metrics=batch)


def log_epoch(run_id: str, row: Mapping) -> None:
    """One epoch of the training history: ``EPOCH_KEYS`` at step ``row["epoch"]``."""
    log_metrics(run_id, {key: row[key] for key in EPOCH_KEYS if key in row}, step=int(row["epoch"]))


def tag_model(run_id: str, model_path: Path) -> None:
    """Tag the run with the checkpoint's sha256 so the evaluate stage can find it."""
    MlflowClient().set_tag(run_id, MODEL_TAG, file_digest(model_path))


def find_run_for_model(experiment: str, model_path: Path) -> str | None:
    """The newest run of ``experiment`` tagged with ``model_path``'s sha256, or None."""
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs([found.experiment_id], f"tags.`{MODEL_TAG}` = '{file_digest(model_path)}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def evaluate_run(experiment: str, model_path: Path, run_name: str | None, tags: Mapping[str, str]) -> str:
    """The train run of ``model_path``, marked running again, or a fresh run tagged with its hash.

    A reused run keeps its own tags (the train stage's commit is the model's provenance); only
    tags it lacks are added.
    """
    client = MlflowClient()
    if (run_id := find_run_for_model(experiment, model_path)) is None:
        log.info("no MLflow run holds %s; starting a new one", model_path)
        return _create_run(experiment, run_name, {**tags, MODEL_TAG: file_digest(model_path)})
    existing = client.get_run(run_id).data.tags
    for key, value in tags.items():
        if key not in existing:
            client.set_tag(run_id, key, str(value))
    client.update_run(run_id, status="RUNNING")
    log.info("evaluate logs into MLflow run %s (the train run of %s)", run_id, model_path)
    return run_id


def log_artifacts(run_id: str, paths: list[Path], artifact_path: str | None = None) -> None:
    """Upload files and directories (a directory keeps its name) under ``artifact_path``."""
    client = MlflowClient()
    for path in map(Path, paths):
        if path.is_dir():
            client.log_artifacts(run_id, str(path), "/".join(filter(None, [artifact_path, path.name])))
        elif path.is_file():
            client.log_artifact(run_id, str(path), artifact_path)
        else:
            log.warning("not logged to MLflow, missing: %s", path)


def finish(run_id: str, status: str = "FINISHED") -> None:
    """End the run with ``status`` (FINISHED, FAILED or KILLED)."""
    MlflowClient().set_terminated(run_id, status)


class Terminated(SystemExit):
    """SIGTERM as an exception, so ``finally`` blocks and :func:`ended_run` run; exits 143."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def ended_run(run_id: str) -> Iterator[str]:
    """Yield ``run_id``; end it FINISHED when the block completes, KILLED on Ctrl-C or SIGTERM,
    FAILED on any other exception (re-raised), so no run is left RUNNING by a dead process."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main else None
    status = "FAILED"
    try:
        yield run_id
        status = "FINISHED"
    except (KeyboardInterrupt, Terminated):
        status = "KILLED"
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        try:
            finish(run_id, status)
        except Exception as err:  # noqa: BLE001 - never hide the block's own error behind MLflow's
            log.warning("MLflow run %s not marked %s (%s)", run_id, status, err)


@dataclasses.dataclass(frozen=True)
class RegisteredResult:
    """Outcome of :func:`register_model`: the new version; who holds ``champion`` now (None only
    when a non-finite first score left it unset); whether the new version took it; the score of
    the champion it was compared with (None if there was none, NaN if that one was untagged)."""

    version: int
    champion_version: int | None
    promoted: bool
    previous_score: float | None


@contextlib.contextmanager
def _resumed(run_id: str) -> Iterator[None]:
    """Make ``run_id`` the active fluent run (``pyfunc.log_model`` takes no run id), then put
    its status back: ending an active run would otherwise mark it FINISHED."""
    status = MlflowClient().get_run(run_id).info.status
    mlflow.start_run(run_id=run_id)
    try:
        yield
    finally:
        mlflow.end_run(status=status)


def _uv_project() -> Path | None:
    """The checkout's uv project: the model's requirements come from ``uv export`` of its lock,
    whatever the cwd (MLflow otherwise looks in the cwd, or imports the model to guess)."""
    root = _PACKAGE_DIR.parents[1]
    return root if (root / "uv.lock").is_file() and (root / "pyproject.toml").is_file() else None


def _log_pyfunc(run_id: str, checkpoint: Path, name: str) -> int:
    """Log the checkpoint as a models-from-code pyfunc in ``run_id``, register it; the version."""
    with _resumed(run_id), warnings.catch_warnings():
        # The example (half a second of quiet noise) shows the UI and `mlflow models serve` users the
        # input layout; MLflow runs the model on it once while logging (a second on a CPU).
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(_MODEL_CODE), artifacts={"checkpoint": str(checkpoint)},
            code_paths=[str(_PACKAGE_DIR)], signature=SIGNATURE, registered_model_name=name,
            uv_project_path=_uv_project(), input_example=INPUT_EXAMPLE,
        )
    return int(info.registered_model_version)


def _champion(client: MlflowClient, name: str, score_key: str) -> tuple[int, float] | None:
    """The ``champion`` version of ``name`` and its score (NaN if untagged), or None."""
    version = client.get_registered_model(name).aliases.get(CHAMPION)
    if version is None:
        return None
    tag = client.get_model_version(name, version).tags.get(score_key)
    return int(version), float(tag) if tag is not None else math.nan


def _beats(score: float, previous: float | None) -> bool:
    """Whether ``score`` takes the alias; an untagged (NaN) champion always yields to a finite score."""
    return math.isfinite(score) and (previous is None or math.isnan(previous) or score > previous)


def _version_of(client: MlflowClient, name: str, digest: str) -> int | None:
    """The lowest version of registered model ``name`` tagged with sha256 ``digest``, or None."""
    found = client.search_model_versions(f"name = '{name}' and tags.`{MODEL_TAG}` = '{digest}'")
    return min((int(found_version.version) for found_version in found), default=None)


def register_model(run_id: str, checkpoint: Path, name: str, tags: Mapping[str, str], score: float,
                   score_key: str = "valid_pesq_wb") -> RegisteredResult:
    """Log and register ``checkpoint`` under ``name``; move ``champion`` to it if ``score`` wins.

    The version is tagged with ``tags``, ``score_key`` and the checkpoint's sha256; the run with
    the outcome. A checkpoint already registered under ``name`` (a rerun that trained nothing
    new) keeps its version: no second version of the same bytes.
    """
    client = MlflowClient()
    digest = file_digest(checkpoint)
    version = _version_of(client, name, digest)
    if version is None:
        version = _log_pyfunc(run_id, checkpoint, name)
        for key, value in {**tags, score_key: repr(float(score)), MODEL_TAG: digest}.items():
            client.set_model_version_tag(name, str(version), key, str(value))
    else:
        log.info("%s is already %s v%d; not registered again", checkpoint, name, version)
    current = _champion(client, name, score_key)
    previous = current[1] if current else None
    promoted = _beats(score, previous)
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, str(version))
    champion_version = version if promoted else current[0] if current else None
    log.info("%s v%d (%s=%.4g) vs champion v%s (%s): champion is v%s", name, version, score_key, score,
             current[0] if current else "-", "none" if previous is None else f"{previous:.4g}", champion_version)
    client.set_tag(run_id, "clearspeech.registered_version", f"{name}/{version}")
    client.set_tag(run_id, "clearspeech.champion", str(promoted).lower())
    return RegisteredResult(version, champion_version, promoted, previous)


# The MLflow 3 UI opens an experiment on its runs table (not the GenAI traces view) when this tag
# says "custom_model_development" (the UI's ExperimentKind enum; mlflow/demo sets it likewise).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"


def mark_model_training(experiment: str) -> None:
    """Tag ``experiment`` (created if missing) as a model-training experiment for the UI."""
    client = MlflowClient()
    client.set_experiment_tag(_experiment_id(client, experiment), EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)


def dvc_stage_hashes(repo_root: Path) -> dict[str, str]:
    """``{"dvc.<stage>.<out>": md5}`` of every stage out recorded in ``dvc.lock`` (empty without one)."""
    try:
        lock = yaml.safe_load((repo_root / "dvc.lock").read_text(encoding="utf-8")) or {}
        return {f"dvc.{stage}.{out['path']}": out["md5"] for stage, entry in lock.get("stages", {}).items()
                for out in entry.get("outs", []) if "md5" in out}
    except (OSError, yaml.YAMLError, TypeError, AttributeError, KeyError):
        return {}


def log_feature_inputs(run_id: str, features_dir: Path, tags: Mapping[str, str]) -> None:
    """``mlflow.log_input`` of each split's feature-store manifest (``<split>/index.csv``), with
    the file's md5 as the dataset digest and ``tags`` (e.g. the DVC stage hashes) on the input."""
    import mlflow.data
    import pandas as pd

    for index in sorted(Path(features_dir).glob("*/index.csv")):
        split = index.parent.name
        dataset = mlflow.data.from_pandas(pd.read_csv(index), source=str(index.resolve()), name=f"features/{split}",
                                          digest=file_digest(index, "md5"))
        with _resumed(run_id):
            mlflow.log_input(dataset, context="training" if split == "train" else split,
                             tags={key: str(value)[:500] for key, value in tags.items()})


@contextlib.contextmanager
def system_metrics(run_id: str, interval: float = 10.0) -> Iterator[None]:
    """CPU, memory, disk (and GPU when present) of this machine logged into ``run_id`` every
    ``interval`` seconds while the block runs (MLflow's system metrics monitor, needs psutil)."""
    status = MlflowClient().get_run(run_id).info.status
    os.environ.setdefault("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", str(interval))
    mlflow.start_run(run_id=run_id, log_system_metrics=True)
    try:
        yield
    finally:
        mlflow.end_run(status=status)
