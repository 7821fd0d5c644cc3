"""What a training run shows in MLflow beyond params and curves: kind, names, inputs, system
metrics, the model's signature and input example (direct calls on the tiny feature store)."""

import time
from pathlib import Path

import mlflow
import yaml
from mlflow import MlflowClient

from clearspeech.core.files import file_digest
from clearspeech.tracking import store
from clearspeech.tracking.publish import log_training_inputs, system_metrics, training_run


def test_training_run_has_kind_name_inputs_and_system_metrics(feature_store, monkeypatch, tmp_path):
    features, _ = feature_store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("DVC_EXP_NAME", "tiny-exp")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    lock = {"schema": "2.0", "stages": {"features": {"cmd": "x", "outs": [{"path": "data/features", "md5": "f" * 32}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))

    with training_run(tmp_path, "rich", {"model": {"arch": "crn"}}) as run_id:
        log_training_inputs(tmp_path, run_id, features)
        with system_metrics(run_id):
            time.sleep(2.5)  # MLflow samples every second (the interval set above) and logs after each sample

    client = MlflowClient()
    experiment = client.get_experiment_by_name("rich")
    assert experiment.tags[store.EXPERIMENT_KIND_TAG] == "custom_model_development"
    run = client.get_run(run_id)
    assert run.info.run_name == "crn-tiny-exp" and run.info.status == "FINISHED"
    assert run.data.tags["arch"] == "crn" and run.data.tags["experiment"] == "tiny-exp"
    inputs = {item.dataset.name: item for item in run.inputs.dataset_inputs}
    assert set(inputs) == {"features/train", "features/valid", "features/test"}
    train = inputs["features/train"]
    assert train.dataset.digest == file_digest(features / "train" / "index.csv", "md5")
    tags = {tag.key: tag.value for tag in train.tags}
    assert tags["dvc.features.data/features"] == "f" * 32 and tags["mlflow.data.context"] == "training"
    assert any(key.startswith("system/cpu_utilization") for key in run.data.metrics), run.data.metrics


def test_registered_model_has_signature_and_input_example(registered_model, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model["uri"])
    store.configure(Path.cwd())
    info = mlflow.models.get_model_info(f"models:/{registered_model['name']}/1")
    assert info.signature is not None and info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, -1)
    assert info.saved_input_example_info is not None
