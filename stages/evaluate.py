"""DVC stage `evaluate`: score noisy, model and log-MMSE on the test set; register the model."""

from pathlib import Path

import click
import pandas as pd

from clearspeech.core.manifest import read_manifest
from clearspeech.evaluation.evaluate import EvaluateConfig, evaluate
from clearspeech.models.checkpoint import load_checkpoint
from clearspeech.tracking.publish import MlflowConfig, publish_evaluation

from common import load_section, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--mixtures", default="data/mixtures/manifest.csv", show_default=True, help="Mixture manifest.")
@click.option("--model", "model_path", default="models/model.pt", show_default=True, help="Checkpoint to evaluate.")
@click.option("--enhanced", default="data/enhanced", show_default=True, help="Enhanced test wavs (a DVC out).")
@click.option("--metrics", "metrics_dir", default="metrics", show_default=True, help="eval.json and tables.")
@click.option("--report", "report_path", default="reports/evaluation.html", show_default=True, help="HTML report.")
@click.option("--curve", default="metrics/train_curve.csv", show_default=True, help="Training curve (train stage).")
@stage
def main(params_file: str, mixtures: str, model_path: str, enhanced: str, metrics_dir: str, report_path: str,
         curve: str) -> None:
    """Write metrics/eval*.{json,csv}, the report and data/enhanced; log to MLflow, register the model."""
    manifest = read_manifest(mixtures, ("id", "split", "noise", "snr", "noisy_path", "clean_path"))
    cfg = load_section(params_file, "evaluate", EvaluateConfig)
    mlflow_cfg = load_section(params_file, "mlflow", MlflowConfig)
    history = pd.read_csv(curve) if Path(curve).is_file() else None
    report = evaluate(manifest, model_path, cfg, enhanced, metrics_dir, report_path, mlflow_cfg.examples, history)
    checkpoint = load_checkpoint(model_path)
    publish_evaluation(Path.cwd(), mlflow_cfg, Path(model_path), report,
                       manifest[manifest["split"] == "test"], Path(enhanced), Path(metrics_dir),
                       checkpoint["arch"], checkpoint["stft"]["sample_rate"], report_path=Path(report_path))


if __name__ == "__main__":
    main()
