"""DVC stage `train`: fit the model on the feature store; resumes from checkpoints/<signature>/last.pt."""

import os
from pathlib import Path

import click

from clearspeech.models import ModelParams
from clearspeech.tracking.publish import (
    epoch_logger,
    finish_training,
    log_training_inputs,
    system_metrics,
    training_run,
)
from clearspeech.training.trainer import TrainConfig, train

from common import as_config, load_section, read_keys, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--features", required=True, help="Feature store.")
@click.option("--checkpoints", required=True,
              help="Resumable checkpoints, one folder per configuration; relative to the DVC root.")
@click.option("--model", "model_out", required=True, help="Best checkpoint.")
@click.option("--summary", required=True, help="Training summary (JSON).")
@click.option("--curve", required=True, help="Learning curve, one row per epoch (CSV).")
@stage
def main(params_file: str, features: str, checkpoints: str, model_out: str, summary: str, curve: str) -> None:
    """Train, log the run to MLflow, keep the best checkpoint as the model."""
    # Exactly what dvc.yaml declares: model.arch, model.target, the chosen architecture's own
    # section, train and mlflow.experiment (other architectures' sections must not retrain it).
    arch = load_section(params_file, "model", ModelParams, ("arch", "target")).arch
    model = read_keys(params_file, "model", ("arch", "target", arch))
    train_section = read_keys(params_file, "train")
    experiment = read_keys(params_file, "mlflow", ("experiment",))["experiment"]
    model_params = as_config(params_file, "model", ModelParams, model)
    train_cfg = as_config(params_file, "train", TrainConfig, train_section)
    # Not a DVC out: `dvc exp run` resets outs without a hash (a killed run's), and --temp runs
    # in a copy; DVC_ROOT is the user's repository in every case, so a rerun resumes.
    checkpoint_root = Path(os.environ.get("DVC_ROOT", "")) / checkpoints
    params = {"model": model, "train": train_section, "mlflow": {"experiment": experiment}}
    with training_run(Path.cwd(), experiment, params) as run_id:
        log_training_inputs(Path.cwd(), run_id, Path(features))
        with system_metrics(run_id):
            result = train(features, model_params, train_cfg, checkpoint_root, model_out, summary, curve,
                           on_epoch=epoch_logger(run_id))
        finish_training(run_id, Path(model_out), result, Path(curve))


if __name__ == "__main__":
    main()
