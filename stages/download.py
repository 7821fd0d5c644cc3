"""DVC stage `download`: the speech and noise corpora into data/raw with a manifest."""

import click
from common import load_section, setup_logging

from clearspeech.corpus import DownloadConfig, prepare_raw


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--out", default="data/raw", show_default=True, help="Output folder (a DVC out).")
def main(params_file: str, out: str) -> None:
    """Fetch (official), copy (local) or generate (synthetic) the corpora."""
    setup_logging()
    prepare_raw(load_section(params_file, "download", DownloadConfig), out)


if __name__ == "__main__":
    main()
