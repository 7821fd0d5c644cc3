"""The stage scripts as DVC runs them: params in, one clear line on bad input."""

import contextlib
import importlib
import importlib.util
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from test_dependencies import stages

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


def declared_params(name: str) -> dict:
    """Only what dvc.yaml declares for stage ``name``, out of the project's params.yaml."""
    full, declared = yaml.safe_load((REPO / "params.yaml").read_text()), {}
    for key in stages()[name]["params"]:
        *parents, last = key.split(".")
        node, dest = full, declared
        for part in parents:
            node, dest = node[part], dest.setdefault(part, {})
        dest[last] = node[last]
    return declared


def stage_module(monkeypatch, name: str):
    monkeypatch.syspath_prepend(str(REPO / "stages"))
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke_with_declared_params(tmp_path, module, name: str) -> None:
    """The stage's cmd from dvc.yaml, against a params file holding only its declared params."""
    params = tmp_path / f"{name}_params.yaml"  # one file per stage: common.load_params caches by path
    params.write_text(yaml.safe_dump(declared_params(name)))
    args = stages()[name]["cmd"].split()[2:] + ["--params", str(params)]
    result = CliRunner().invoke(module.main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_train_reads_and_logs_exactly_its_declared_params(tmp_path, monkeypatch):
    module, calls = stage_module(monkeypatch, "train"), {}
    @contextlib.contextmanager
    def training_run(root, experiment, params):
        calls.update(experiment=experiment, logged=params)
        yield "run"

    monkeypatch.setattr(module, "training_run", training_run)
    monkeypatch.setattr(module, "log_training_inputs", lambda *args: None)
    monkeypatch.setattr(module, "system_metrics", lambda run_id: contextlib.nullcontext())
    monkeypatch.setattr(module, "train", lambda *args, **kwargs: calls.update(train=args) or {})
    monkeypatch.setattr(module, "finish_training", lambda *args: None)
    invoke_with_declared_params(tmp_path, module, "train")
    assert calls["logged"] == declared_params("train") and set(calls["logged"]["model"]) == {"arch", "target", "crnn"}
    features, model_params, train_cfg, *paths = calls["train"]
    assert model_params.arch == "crnn" and model_params.arch_config["rnn_hidden"] == 1024
    assert train_cfg.lr == declared_params("train")["train"]["lr"]
    assert list(map(str, [features, *paths])) == ["data/features", "checkpoints", "models/model.pt",
                                                  "metrics/train.json", "metrics/train_curve.csv"]


def test_evaluate_and_peers_need_only_their_declared_params(tmp_path, monkeypatch):
    evaluate, seen = stage_module(monkeypatch, "evaluate"), {}
    monkeypatch.setattr(evaluate, "read_manifest", lambda *args: pd.DataFrame({"split": ["test"]}))
    monkeypatch.setattr(evaluate.pd, "read_csv", lambda path: seen.update(curve=path) or pd.DataFrame())
    monkeypatch.setattr(evaluate, "evaluate", lambda *args: seen.update(reports=args[-1]) or {})
    monkeypatch.setattr(evaluate, "load_checkpoint", lambda path: {"arch": "crnn", "stft": {"sample_rate": 16000}})
    monkeypatch.setattr(evaluate, "publish_evaluation", lambda *args: seen.update(mlflow=args[1], logged=args[6]))
    invoke_with_declared_params(tmp_path, evaluate, "evaluate")
    assert seen["mlflow"].examples == 3 and [str(p) for p in seen["logged"]] == [
        "metrics/eval.json", "metrics/eval_by_condition.csv", "metrics/eval_delta_pesq_by_snr.csv",
        "metrics/eval_utterances.csv", "metrics/eval_dnsmos.json", "reports/evaluation.html"]
    assert seen["curve"] == "metrics/train_curve.csv"
    peers = stage_module(monkeypatch, "peers")
    monkeypatch.setattr(peers, "read_manifest", lambda *args: None)
    monkeypatch.setattr(peers, "compare_peers", lambda *args, **kwargs: seen.update(peers_cfg=args[3]) or {})
    monkeypatch.setattr(peers, "publish_peers", lambda root, experiment, *args: seen.update(experiment=experiment))
    invoke_with_declared_params(tmp_path, peers, "peers")
    assert seen["experiment"] == "clearspeech" and "nsnet2" in seen["peers_cfg"].peers


def test_user_error_is_one_line_and_exit_1_other_errors_keep_their_traceback(monkeypatch, caplog):
    monkeypatch.syspath_prepend(str(REPO / "stages"))
    from clearspeech.core.manifest import ManifestError

    from common import stage

    def broken_manifest() -> None:
        raise ManifestError("data/x.csv: missing columns ['id']")

    with pytest.raises(SystemExit) as exit_info:
        stage(broken_manifest)()
    assert exit_info.value.code == 1 and caplog.messages == ["data/x.csv: missing columns ['id']"]
    with pytest.raises(KeyError):
        stage(lambda: {}["bug"])()


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
    args = stages()[name]["cmd"].split()[2:] + ["--params", str(tmp_path / "params.yaml")]
    result = CliRunner().invoke(importlib.import_module(name).main, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit) and line in result.output
    assert not (tmp_path / "mlflow.db").exists()  # no run opened, so none left RUNNING


@pytest.mark.slow
def test_sigterm_during_training_ends_its_mlflow_run_killed(tmp_path, feature_store):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))} | {"MLFLOW_TRACKING_URI": uri}
    train = {"epochs": 1000, "steps_per_epoch": 1, "batch_size": 2, "crop_frames": 16, "threads": 1}
    process = stage_with(tmp_path, "train", {"train": train, "model": {"crnn": TINY_CRNN}},
                         "--features", str(feature_store[0]), "--checkpoints", "checkpoints",
                         "--model", "models/model.pt", "--summary", "metrics/train.json",
                         "--curve", "metrics/train_curve.csv", env=env)
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
