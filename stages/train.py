"""DVC stage `train`: fit the model on the feature store; resumes from checkpoints/<signature>/last.pt."""

import os
from pathlib import Path

import click

from clearspeech.models import ModelParams
from clearspeech.tracking.publish import MlflowConfig, epoch_logger, finish_training, training_run
from clearspeech.training.trainer import TrainConfig, train

from common import load_params, load_section, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--features", default="data/features", show_default=True, help="Feature store.")
@click.option("--checkpoints", default="checkpoints", show_default=True,
              help="Resumable checkpoints, one folder per configuration; relative to the DVC root.")
@click.option("--model", "model_out", default="models/model.pt", show_default=True, help="Best checkpoint.")
@click.option("--metrics", "metrics_dir", default="metrics", show_default=True, help="train.json, train_curve.csv.")
@stage
def main(params_file: str, features: str, checkpoints: str, model_out: str, metrics_dir: str) -> None:
    """Train, log the run to MLflow, keep the best checkpoint as the model."""
    mlflow_cfg = load_section(params_file, "mlflow", MlflowConfig)
    model_params = load_section(params_file, "model", ModelParams)
    train_cfg = load_section(params_file, "train", TrainConfig)
    # Not a DVC out: `dvc exp run` resets outs without a hash (a killed run's), and --temp runs
    # in a copy; DVC_ROOT is the user's repository in every case, so a rerun resumes.
    checkpoint_root = Path(os.environ.get("DVC_ROOT", "")) / checkpoints
    with training_run(Path.cwd(), mlflow_cfg, load_params(params_file)) as run_id:
        summary = train(features, model_params, train_cfg, checkpoint_root, model_out, metrics_dir,
                        on_epoch=epoch_logger(run_id))
        finish_training(run_id, Path(model_out), summary, Path(metrics_dir) / "train_curve.csv")


if __name__ == "__main__":
    main()
