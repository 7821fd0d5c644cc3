"""DVC stage `download`: the speech and noise corpora into a folder with a manifest."""

import click

from clearspeech.data.download import DownloadConfig, prepare_raw

from common import load_section, stage


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--out", required=True, help="Output folder (a DVC out).")
@stage
def main(params_file: str, out: str) -> None:
    """Fetch (official), copy (local) or generate (synthetic) the corpora."""
    prepare_raw(load_section(params_file, "download", DownloadConfig), out)


if __name__ == "__main__":
    main()
