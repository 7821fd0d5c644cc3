"""DVC stage `evaluate`: score noisy, model and log-MMSE on the test set; register the model."""

import dataclasses
from pathlib import Path

import click
import pandas as pd

from clearspeech.core.manifest import read_manifest
from clearspeech.evaluation.evaluate import EvaluateConfig, EvaluationReports, evaluate
from clearspeech.models.checkpoint import load_checkpoint
from clearspeech.tracking.publish import MlflowConfig, publish_evaluation

from common import load_section, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--mixtures", required=True, help="Mixture manifest.")
@click.option("--model", "model_path", required=True, help="Checkpoint to evaluate.")
@click.option("--curve", required=True, help="The train stage's learning curve (CSV), for the report.")
@click.option("--enhanced", required=True, help="Enhanced test wavs (a DVC out).")
@click.option("--report", "report_path", required=True, help="Self-contained HTML report.")
@click.option("--summary", required=True, help="Per-system means and intervals (JSON metrics).")
@click.option("--by-condition", required=True, help="Means per noise x SNR x system (CSV).")
@click.option("--delta-pesq-by-snr", required=True, help="PESQ-WB gain over noisy per SNR (plot CSV).")
@click.option("--utterances", required=True, help="Per-mixture scores (CSV; the peers stage reads it).")
@click.option("--dnsmos", required=True, help="DNSMOS P.835 per system (JSON metrics).")
@stage
def main(params_file: str, mixtures: str, model_path: str, curve: str, enhanced: str, report_path: str,
         **report_paths: str) -> None:
    """Write the reports and the enhanced wavs; log to MLflow and register the model."""
    cfg = load_section(params_file, "evaluate", EvaluateConfig)  # both sections valid before any work
    mlflow_cfg = load_section(params_file, "mlflow", MlflowConfig)
    manifest = read_manifest(mixtures, ("id", "split", "noise", "snr", "noisy_path", "clean_path"))
    reports = EvaluationReports(**{name: Path(path) for name, path in report_paths.items()})
    report = evaluate(manifest, model_path, cfg, enhanced, reports, report_path, mlflow_cfg.examples,
                      pd.read_csv(curve))
    checkpoint = load_checkpoint(model_path)
    publish_evaluation(Path.cwd(), mlflow_cfg, Path(model_path), report, manifest[manifest["split"] == "test"],
                       Path(enhanced), [*map(Path, dataclasses.astuple(reports)), Path(report_path)],
                       checkpoint["arch"], checkpoint["stft"]["sample_rate"])


if __name__ == "__main__":
    main()
