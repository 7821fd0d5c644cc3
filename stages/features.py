"""DVC stage `features`: memory-mappable log-magnitude STFTs and train-only statistics."""

import click

from clearspeech.core.manifest import read_manifest
from clearspeech.data.features import FeaturesConfig, extract_features

from common import load_section, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--mixtures", required=True, help="Mixture manifest.")
@click.option("--out", required=True, help="Output folder (a DVC out).")
@stage
def main(params_file: str, mixtures: str, out: str) -> None:
    """Write the feature store (arrays, index, stats.json, stft.json)."""
    cfg = load_section(params_file, "features", FeaturesConfig)
    manifest = read_manifest(mixtures, ("id", "split", "samples", "noisy_path", "clean_path"))
    extract_features(manifest, cfg, out)


if __name__ == "__main__":
    main()
