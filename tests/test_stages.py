"""The stage scripts as DVC runs them: params in, one clear line on bad input."""

import importlib
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from click.testing import CliRunner

from conftest import REPO, TINY_CRNN, write_local_copy


def run_stage(tmp_path, name, download):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["download"].update(download)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run(
        [sys.executable, str(REPO / "stages" / f"{name}.py"), "--params", str(tmp_path / "params.yaml"),
         "--out", str(tmp_path / "raw")], capture_output=True, text=True, cwd=tmp_path)


def test_corrupt_local_file_is_one_clear_line(tmp_path):
    local = write_local_copy(tmp_path / "local", utterances=2)
    (local / "noise" / "hum" / "zz_broken.flac").write_bytes(b"\x00" * 64)
    done = run_stage(tmp_path, "download", {"source": "local", "local_dir": str(local), "noises": ["hum"]})
    assert done.returncode == 1
    assert "zz_broken.flac: not a readable audio file" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "raw").exists()


def test_unknown_param_key_is_named(tmp_path):
    done = run_stage(tmp_path, "download", {"sorce": "local"})
    assert done.returncode != 0 and "unknown keys ['sorce']" in done.stderr and "Traceback" not in done.stderr


def test_every_stage_has_help(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "stages"))
    for name in ("download", "split", "synthesize", "features"):
        module = importlib.import_module(name)
        result = CliRunner().invoke(module.main, ["--help"])
        assert result.exit_code == 0 and "--params" in result.output


def stage_with(tmp_path, name, overrides, *args, env=None):
    """Run stage ``name`` with params.yaml's sections updated by ``overrides``, in tmp_path."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in overrides.items():
        params[section].update(values)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.Popen([sys.executable, str(REPO / "stages" / f"{name}.py"), *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("name, overrides, line", [
    ("train", {"train": {"lr": -1}}, "section 'train': train.lr: must be > 0, got -1"),
    ("train", {"train": {"lrr": 0.1}}, "section 'train': TrainConfig: unknown keys ['lrr']"),
    ("train", {"model": {"crnn": {"chanels": 3}}}, "model.crnn: CRNNConfig: unknown keys ['chanels']"),
    ("synthesize", {"synthesize": {"snrs": []}}, "section 'synthesize': synthesize.snrs: must not be empty"),
    ("evaluate", {"evaluate": {"valid_mixtures": 0}}, "evaluate.valid_mixtures: must be >= 1"),
])
def test_bad_params_stop_a_stage_before_any_work_or_mlflow_run(tmp_path, monkeypatch, name, overrides, line):
    # In-process (a subprocess per case would import torch and MLflow again: 13 s each).
    for key in [key for key in os.environ if key.startswith(("MLFLOW_", "DVC_"))]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO / "stages"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in overrides.items():
        params[section].update(values)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(importlib.import_module(name).main, ["--params", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit) and line in result.output
    assert not (tmp_path / "mlflow.db").exists()  # no run opened, so none left RUNNING


@pytest.mark.slow
def test_sigterm_during_training_ends_its_mlflow_run_killed(tmp_path, feature_store):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))} | {"MLFLOW_TRACKING_URI": uri}
    train = {"epochs": 1000, "steps_per_epoch": 1, "batch_size": 2, "crop_frames": 16, "threads": 1}
    process = stage_with(tmp_path, "train", {"train": train, "model": {"crnn": TINY_CRNN}},
                         "--features", str(feature_store[0]), env=env)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("checkpoints/**/last.pt")) and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("clearspeech").experiment_id])
    assert [run.info.status for run in runs] == ["KILLED"]
