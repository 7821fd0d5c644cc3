"""DVC stage `split`: choose utterances per speaker and split them train / valid / test."""

import click

from clearspeech.core.manifest import read_manifest, write_manifest
from clearspeech.data.split import SplitConfig, split_utterances

from common import load_section, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--raw", required=True, help="Raw corpus manifest.")
@click.option("--out", required=True, help="Split manifest to write (a DVC out).")
@stage
def main(params_file: str, raw: str, out: str) -> None:
    """Write the split manifest (utterance id, speaker, split, path, duration)."""
    cfg = load_section(params_file, "split", SplitConfig)
    write_manifest(split_utterances(read_manifest(raw, ("kind", "speaker", "name", "duration")), cfg), out)


if __name__ == "__main__":
    main()
