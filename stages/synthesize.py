"""DVC stage `synthesize`: every split utterance x noise x SNR, with a mixture manifest."""

import json

import click

from clearspeech.core.files import write_text_atomic
from clearspeech.core.manifest import read_manifest
from clearspeech.data.synthesize import SynthesizeConfig, summarize, synthesize

from common import load_section, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--raw", required=True, help="Raw corpus manifest (noises).")
@click.option("--split", "split_csv", required=True, help="Split manifest.")
@click.option("--out", required=True, help="Output folder (a DVC out).")
@click.option("--metrics", required=True, help="Counts and SNR accuracy (JSON).")
@stage
def main(params_file: str, raw: str, split_csv: str, out: str, metrics: str) -> None:
    """Write noisy and clean wavs, the mixture manifest in ``out`` and the stage's metrics."""
    cfg = load_section(params_file, "synthesize", SynthesizeConfig)
    split = read_manifest(split_csv, ("utterance_id", "speaker", "split", "path"))
    manifest = synthesize(split, read_manifest(raw, ("kind", "noise", "path")), cfg, out)
    write_text_atomic(metrics, json.dumps(summarize(manifest, cfg.sample_rate), indent=2) + "\n")


if __name__ == "__main__":
    main()
