"""`clearspeech enhance --report` on real recordings (../shared/data/ood speech in its noise)."""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from clearspeech.cli.app import main
from clearspeech.core.audio import load_mono
from clearspeech.data.mixing import mix

from conftest import write_checkpoint

OOD = Path(__file__).resolve().parents[3] / "shared" / "data" / "ood"


@pytest.fixture
def recordings(tmp_path) -> Path:
    if not (OOD / "speech").is_dir() or not (OOD / "noise").is_dir():
        pytest.skip(f"{OOD}: the out-of-domain recordings are not here")
    speech = sorted((OOD / "speech").rglob("*.flac"))[:3]
    noise = load_mono(sorted((OOD / "noise" / "cafe").iterdir())[0], 16000)
    folder = tmp_path / "in"
    folder.mkdir()
    for index, path in enumerate(speech):
        clean = load_mono(path, 16000)
        noisy = mix(clean, np.resize(noise, len(clean)), 5.0).noisy
        sf.write(folder / f"{index}_{path.stem}.flac", noisy, 16000, subtype="PCM_16")
    sf.write(folder / "short.wav", noisy[:8000], 16000, subtype="PCM_16")  # 0.5 s: enhanced, not DNSMOS-scored
    sf.write(folder / "silent.wav", np.zeros(32000, dtype=np.float32), 16000, subtype="PCM_16")
    return folder


def test_report_scores_inputs_and_outputs_and_names_what_it_cannot_score(tmp_path, recordings):
    model = write_checkpoint(tmp_path / "model.pt")
    args = ["enhance", "-q", "--threads", "1", str(recordings), "-o", str(tmp_path / "out"), "-m", str(model)]
    result = CliRunner().invoke(main, [*args, "--report", str(tmp_path / "report.html")])
    assert result.exit_code == 0, result.output
    assert "report of 5 files, mean DNSMOS OVRL" in result.output and "over 3 scored" in result.output
    page = (tmp_path / "report.html").read_text()
    assert page.count("<audio") == 3 * 2 and page.count("data:image/png;base64,") == 3
    assert "short.wav: too short for DNSMOS: 0.50 s" in page and "silent.wav: silent for DNSMOS" in page
    cells = [float(cell) for cell in re.findall(r"<td>(\d+\.\d{3})</td>", page)]
    # 3 scored files x (input, output) x (SIG, BAK, OVRL) on DNSMOS's 1..5 scale, besides the durations.
    assert sum(1.0 <= value <= 5.0 for value in cells) >= 18

    plain = CliRunner().invoke(main, [*args[:-4], "-o", str(tmp_path / "out2"), "-m", str(model)])
    assert plain.exit_code == 0 and "report" not in plain.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".html") == ["report.html"]
