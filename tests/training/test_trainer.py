import json

import pandas as pd
import pytest
import torch

from clearspeech.models import ModelParams
from clearspeech.models.checkpoint import load_checkpoint
from clearspeech.training.trainer import TrainConfig, Trainer, TrainingDiverged, train

from conftest import TINY_CRNN

MODEL = ModelParams(arch="crnn", target="irm", crnn=TINY_CRNN)
FAST = TrainConfig(device="cpu", threads=1, epochs=2, batch_size=4, crop_frames=32, steps_per_epoch=3)


def test_train_writes_model_metrics_and_curve(feature_store, tmp_path):
    features, _ = feature_store
    metrics = tmp_path / "metrics"
    summary = train(features, MODEL, FAST, tmp_path / "ckpt", tmp_path / "model.pt", metrics / "train.json",
                    metrics / "train_curve.csv")
    assert summary["epochs"] == 2 and summary["stopped_by"] == "epochs" and summary["parameters"] > 0
    assert json.loads((tmp_path / "metrics" / "train.json").read_text()) == summary
    curve = pd.read_csv(tmp_path / "metrics" / "train_curve.csv")
    assert list(curve.columns) == ["epoch", "train_loss", "valid_loss", "lr", "seconds"] and len(curve) == 2
    model = load_checkpoint(tmp_path / "model.pt")
    assert model["epoch"] == summary["best_epoch"] and "optimizer_state" not in model


def test_resume_continues_epochs_and_optimizer_state(feature_store, tmp_path):
    features, _ = feature_store
    first = Trainer(features, MODEL, FAST, tmp_path)
    first.run()
    saved = load_checkpoint(tmp_path / "last.pt")
    longer = Trainer(features, MODEL, TrainConfig(**{**FAST.__dict__, "epochs": 3}), tmp_path)
    assert longer.resume()
    assert longer.state["epoch"] == 2 and len(longer.state["history"]) == 2
    state = longer.optimizer.state_dict()["state"][0]
    assert torch.equal(state["exp_avg"], saved["optimizer_state"]["state"][0]["exp_avg"])
    assert int(state["step"]) == 2 * FAST.steps_per_epoch
    assert longer.run()["epoch"] == 3
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 3


def test_other_params_start_afresh(feature_store, tmp_path):
    features, _ = feature_store
    Trainer(features, MODEL, FAST, tmp_path).run()
    changed = Trainer(features, MODEL, TrainConfig(**{**FAST.__dict__, "lr": 0.01}), tmp_path)
    assert not changed.resume() and changed.state["epoch"] == 0


def test_training_is_deterministic_on_cpu(feature_store, tmp_path):
    features, _ = feature_store
    runs = [Trainer(features, MODEL, FAST, tmp_path / name) for name in ("a", "b")]
    for trainer in runs:
        trainer.run()
    for left, right in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        assert torch.equal(left, right)


def test_nan_loss_stops_with_a_clear_error_and_saves_nothing(feature_store, tmp_path, monkeypatch):
    features, _ = feature_store
    trainer = Trainer(features, MODEL, FAST, tmp_path)
    monkeypatch.setattr(trainer.model, "forward", lambda x: torch.full_like(x, float("nan")))
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1"):
        trainer.run()
    assert not (tmp_path / "last.pt").exists()


@pytest.mark.parametrize("target,loss", [("mapping", "target"), ("irm", "target"), ("mapping", "compressed")])
def test_every_target_and_loss_trains(feature_store, tmp_path, target, loss):
    features, _ = feature_store
    cfg = TrainConfig(**{**FAST.__dict__, "loss": loss, "epochs": 1})
    state = Trainer(features, ModelParams(arch="crnn", target=target, crnn=TINY_CRNN), cfg, tmp_path).run()
    assert state["best_valid_loss"] < float("inf")
