"""The MLflow side channel against a real sqlite store, with a real (tiny) checkpoint."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from clearspeech.core.files import file_digest
from clearspeech.inference.enhancer import Enhancer
from clearspeech.tracking import store
from clearspeech.tracking.pyfunc_model import as_waveform_batch

from conftest import write_checkpoint

DVC_ENV = ("DVC_ROOT", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV")

@pytest.fixture(scope="module")
def store_uri(tmp_path_factory) -> str:
    # One store per module: creating a fresh MLflow sqlite schema takes ~8 s.
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture
def experiment(store_uri, monkeypatch, tmp_path, request) -> str:
    """Tracking configured on the module's store; an experiment name unique to the test."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
    for name in DVC_ENV:
        monkeypatch.delenv(name, raising=False)
    store.configure(tmp_path)
    return request.node.name


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    return write_checkpoint(tmp_path / "best.pt")


def test_tracking_uri_env_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://store.example:5000")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "parent"))
    assert store.tracking_uri(tmp_path) == "http://store.example:5000"


def test_tracking_uri_is_absolute_sqlite_at_repo_root(monkeypatch, tmp_path):
    for name in ("MLFLOW_TRACKING_URI", *DVC_ENV):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "repo").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    expected = f"sqlite:///{tmp_path.resolve()}/repo/mlflow.db"
    assert store.tracking_uri(Path("../repo")) == expected
    assert store.tracking_uri(tmp_path / "repo") == expected


def test_tracking_uri_follows_dvc_root_out_of_a_temp_executor(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    executor = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc"
    assert store.tracking_uri(executor) == f"sqlite:///{tmp_path}/mlflow.db"


def test_flatten_nested_sections():
    params = {"train": {"lr": 0.001, "epochs": 3}, "model": {"arch": "crnn", "crnn": {"channels": 4}},
              "synthesize": {"snrs": [15.0, 20.0]}}
    assert store.flatten(params) == {
        "train.lr": "0.001", "train.epochs": "3", "model.arch": "crnn", "model.crnn.channels": "4",
        "synthesize.snrs": "[15.0, 20.0]",
    }


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo), *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_run_tags_from_git_dvc_lock_and_dvc_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DVC_EXP_NAME", "lusty-gnu")
    git(tmp_path, "init", "-q")
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  features:\n    outs:\n    - path: data/features\n"
        "      hash: md5\n      md5: abc123.dir\n")
    git(tmp_path, "add", "dvc.lock")
    git(tmp_path, "commit", "-qm", "lock")
    tags = store.run_tags(tmp_path)
    assert tags["git.commit"] == git(tmp_path, "rev-parse", "HEAD") and len(tags["git.commit"]) == 40
    assert tags["git.dirty"] == "false"
    assert tags["dvc.experiment"] == "lusty-gnu" and tags["dvc.features_hash"] == "abc123.dir"
    (tmp_path / "new.py").write_text("x = 1\n")
    assert store.run_tags(tmp_path)["git.dirty"] == "true"


def test_run_tags_without_git_or_lock(monkeypatch, tmp_path):
    for name in DVC_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable at all
    assert store.run_tags(tmp_path) == {"git.commit": "unknown", "git.dirty": "unknown", "dvc.experiment": "",
                                           "dvc.baseline_rev": "", "dvc.features_hash": ""}


def test_train_run_is_found_by_evaluate(experiment, checkpoint, tmp_path):
    params = {"train": {"lr": 0.001, "epochs": 3}, "model": {"arch": "crnn"}}
    run_id = store.start_train_run(experiment, "train-1", params, {"git.commit": "abc"})
    for epoch in (1, 2, 3):
        store.log_epoch(run_id, {"epoch": epoch, "train_loss": 1.0 / epoch, "valid_loss": 2.0 / epoch,
                                    "lr": 1e-3, "seconds": 0.5})
    store.tag_model(run_id, checkpoint)
    store.finish(run_id)

    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.data.params == {"train.lr": "0.001", "train.epochs": "3", "model.arch": "crnn"}
    assert run.data.tags["git.commit"] == "abc" and run.info.run_name == "train-1"
    history = client.get_metric_history(run_id, "valid_loss")
    assert [(m.step, m.value) for m in history] == [(1, 2.0), (2, 1.0), (3, pytest.approx(2 / 3))]
    assert set(run.data.metrics) == {"train_loss", "valid_loss", "lr", "seconds"}

    assert store.evaluate_run(experiment, checkpoint, "eval", {"git.commit": "later", "stage": "evaluate"}) == run_id
    resumed = client.get_run(run_id)
    assert resumed.info.status == "RUNNING"
    assert resumed.data.tags["git.commit"] == "abc" and resumed.data.tags["stage"] == "evaluate"
    store.log_metrics(run_id, {"test_pesq_wb": 2.5})
    store.finish(run_id)
    assert client.get_run(run_id).info.status == "FINISHED"
    assert client.get_run(run_id).data.metrics["test_pesq_wb"] == 2.5

    other = write_checkpoint(tmp_path / "other.pt", seed=1)
    assert store.find_run_for_model(experiment, other) is None
    fresh = store.evaluate_run(experiment, other, "eval-other", {"stage": "evaluate"})
    assert fresh != run_id
    assert client.get_run(fresh).data.tags[store.MODEL_TAG] == file_digest(other)
    assert store.find_run_for_model(experiment, other) == fresh
    assert store.find_run_for_model("no-such-experiment", checkpoint) is None


def test_log_artifacts_keeps_directory_names(experiment, tmp_path):
    run_id = store.start_train_run(experiment, None, {}, {})
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "curve.png").write_bytes(b"png")
    (tmp_path / "train.json").write_text("{}")
    store.log_artifacts(run_id, [tmp_path / "plots", tmp_path / "train.json", tmp_path / "missing"], "report")
    client = MlflowClient()
    assert sorted(a.path for a in client.list_artifacts(run_id, "report")) == ["report/plots", "report/train.json"]
    assert [a.path for a in client.list_artifacts(run_id, "report/plots")] == ["report/plots/curve.png"]
    # Artifacts sit beside the sqlite file, not in the cwd's ./mlruns.
    assert client.get_experiment_by_name(experiment).artifact_location.endswith("/mlartifacts")


def register(run_id: str, path: Path, name: str, score: float) -> store.RegisteredResult:
    return store.register_model(run_id, path, name, {"arch": "crnn", "target": "irm"}, score)


def test_champion_moves_only_to_a_better_score(experiment, tmp_path):
    name = f"clearspeech-{experiment}"
    run_id = store.start_train_run(experiment, None, {}, {})
    first = register(run_id, write_checkpoint(tmp_path / "a.pt", 0), name, 2.0)
    assert first == store.RegisteredResult(version=1, champion_version=1, promoted=True, previous_score=None)
    worse = register(run_id, write_checkpoint(tmp_path / "b.pt", 1), name, 1.5)
    assert worse == store.RegisteredResult(version=2, champion_version=1, promoted=False, previous_score=2.0)
    better = register(run_id, write_checkpoint(tmp_path / "c.pt", 2), name, 3.25)
    assert better == store.RegisteredResult(version=3, champion_version=3, promoted=True, previous_score=2.0)

    client = MlflowClient()
    assert client.get_registered_model(name).aliases == {"champion": 3}
    for version, score in ((1, 2.0), (2, 1.5), (3, 3.25)):
        tags = client.get_model_version(name, str(version)).tags
        assert tags["arch"] == "crnn" and tags["target"] == "irm" and float(tags["valid_pesq_wb"]) == score
    run = client.get_run(run_id)
    assert run.data.tags["clearspeech.registered_version"] == f"{name}/3"
    assert run.data.tags["clearspeech.champion"] == "true"
    assert run.info.status == "RUNNING"  # logging the model leaves the run's status alone


@pytest.fixture
def one_torch_thread():
    # On this 2-vCPU box a tiny LSTM takes ~3 s per call with 2 intra-op threads, ~1 ms with 1.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_champion_serves_waveforms_of_any_length(experiment, checkpoint, one_torch_thread):
    name = f"clearspeech-{experiment}"
    run_id = store.start_train_run(experiment, None, {}, {})
    register(run_id, checkpoint, name, 2.0)
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    reference = Enhancer.from_checkpoint(checkpoint)
    rng = np.random.default_rng(0)
    for samples in (100, 16000, 23457):
        waves = (0.1 * rng.standard_normal((2, samples))).astype(np.float32)
        out = model.predict(waves)
        assert out.shape == (2, samples) and out.dtype == np.float32 and np.isfinite(out).all()
        np.testing.assert_allclose(out, reference.enhance(waves), atol=1e-6)


def test_waveform_batch_from_rest_shapes():
    wave = np.arange(6, dtype=np.float64)
    assert as_waveform_batch(wave).shape == (1, 6) and as_waveform_batch(wave).dtype == np.float32
    assert as_waveform_batch([[0, 1, 2], [3, 4, 5]]).shape == (2, 3)
    cells = pd.DataFrame({"wave": [wave.tolist(), (wave + 1).tolist()]})
    np.testing.assert_array_equal(as_waveform_batch(cells), np.stack([wave, wave + 1]).astype(np.float32))
    assert as_waveform_batch(pd.DataFrame(np.ones((3, 5)))).shape == (3, 5)
    with pytest.raises(ValueError, match="batch, samples"):
        as_waveform_batch(np.zeros((2, 3, 4)))


def test_non_finite_score_never_becomes_champion(experiment, checkpoint):
    name = f"clearspeech-{experiment}"
    run_id = store.start_train_run(experiment, None, {}, {})
    assert register(run_id, checkpoint, name, math.nan) == store.RegisteredResult(1, None, False, None)
    assert MlflowClient().get_registered_model(name).aliases == {}


def test_the_same_checkpoint_is_registered_once(experiment, tmp_path):
    # train.epochs=0 (or any rerun that reproduces the checkpoint) must not add a version.
    name = f"clearspeech-{experiment}"
    model = write_checkpoint(tmp_path / "a.pt", 0)
    first_run = store.start_train_run(experiment, None, {}, {})
    assert register(first_run, model, name, 2.0) == store.RegisteredResult(1, 1, True, None)
    rerun = store.start_train_run(experiment, None, {}, {})
    copy = tmp_path / "copy.pt"
    copy.write_bytes(model.read_bytes())
    assert register(rerun, copy, name, 2.0) == store.RegisteredResult(1, 1, False, 2.0)
    assert register(rerun, write_checkpoint(tmp_path / "b.pt", 1), name, 1.0).version == 2
    client = MlflowClient()
    assert sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'")) == [1, 2]
    assert client.get_model_version(name, "1").tags[store.MODEL_TAG] == file_digest(model)
    assert client.get_run(rerun).data.tags["clearspeech.registered_version"] == f"{name}/2"


def run_status(run_id: str) -> str:
    return MlflowClient().get_run(run_id).info.status


def test_ended_run_marks_success_failure_interrupt_and_sigterm(experiment):
    import os
    import signal

    done = store.start_train_run(experiment, None, {}, {})
    with store.ended_run(done):
        pass
    failed, interrupted, terminated = (store.start_train_run(experiment, None, {}, {}) for _ in range(3))
    with pytest.raises(ValueError), store.ended_run(failed):
        raise ValueError("bad params")
    with pytest.raises(KeyboardInterrupt), store.ended_run(interrupted):
        raise KeyboardInterrupt
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exited, store.ended_run(terminated):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0)  # give the handler its bytecode boundary
    assert exited.value.code == 143 and signal.getsignal(signal.SIGTERM) is before
    assert [run_status(run) for run in (done, failed, interrupted, terminated)] == [
        "FINISHED", "FAILED", "KILLED", "KILLED"]
