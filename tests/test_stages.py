"""The stage scripts as DVC runs them: params in, one clear line on bad input."""

import importlib
import subprocess
import sys

import yaml
from click.testing import CliRunner

from conftest import REPO, write_local_copy


def run_stage(tmp_path, name, download):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["download"].update(download)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run(
        [sys.executable, str(REPO / "stages" / f"{name}.py"), "--params", str(tmp_path / "params.yaml"),
         "--out", str(tmp_path / "raw")], capture_output=True, text=True, cwd=tmp_path)


def test_corrupt_local_file_is_one_clear_line(tmp_path):
    local = write_local_copy(tmp_path / "local", utterances=2)
    (local / "noise" / "hum" / "zz_broken.flac").write_bytes(b"\x00" * 64)
    done = run_stage(tmp_path, "download", {"source": "local", "local_dir": str(local), "noises": ["hum"]})
    assert done.returncode == 1
    assert "zz_broken.flac: not a readable audio file" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "raw").exists()


def test_unknown_param_key_is_named(tmp_path):
    done = run_stage(tmp_path, "download", {"sorce": "local"})
    assert done.returncode != 0 and "unknown keys ['sorce']" in done.stderr and "Traceback" not in done.stderr


def test_every_stage_has_help(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "stages"))
    for name in ("download", "split", "synthesize", "features"):
        module = importlib.import_module(name)
        result = CliRunner().invoke(module.main, ["--help"])
        assert result.exit_code == 0 and "--params" in result.output
