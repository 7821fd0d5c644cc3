"""DVC stage `train`: fit the model on the feature store; resumes from checkpoints/last.pt."""

from pathlib import Path

import click

from clearspeech.models import ModelParams
from clearspeech.tracking.publish import (
    MlflowConfig,
    epoch_logger,
    finish_training,
    log_training_inputs,
    start_training,
    system_metrics,
)
from clearspeech.training.trainer import TrainConfig, train

from common import load_params, load_section, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--features", default="data/features", show_default=True, help="Feature store.")
@click.option("--checkpoints", default="checkpoints", show_default=True, help="Resumable checkpoints (persisted).")
@click.option("--model", "model_out", default="models/model.pt", show_default=True, help="Best checkpoint.")
@click.option("--metrics", "metrics_dir", default="metrics", show_default=True, help="train.json, train_curve.csv.")
@stage
def main(params_file: str, features: str, checkpoints: str, model_out: str, metrics_dir: str) -> None:
    """Train, log the run to MLflow, keep the best checkpoint as the model."""
    mlflow_cfg = load_section(params_file, "mlflow", MlflowConfig)
    model_params = load_section(params_file, "model", ModelParams)
    run_id = start_training(Path.cwd(), mlflow_cfg, load_params(params_file))
    log_training_inputs(Path.cwd(), run_id, Path(features))
    with system_metrics(run_id):
        summary = train(features, model_params, load_section(params_file, "train", TrainConfig), checkpoints,
                        model_out, metrics_dir, on_epoch=epoch_logger(run_id))
    finish_training(run_id, Path(model_out), summary, Path(metrics_dir) / "train_curve.csv")


if __name__ == "__main__":
    main()
