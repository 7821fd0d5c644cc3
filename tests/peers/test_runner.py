"""Delay measurement and the peers runner: a known shift is recovered, failing peers are reported."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clearspeech.core.audio import load_mono, write_audio
from clearspeech.evaluation.evaluate import EvaluateConfig, EvaluationReports, evaluate
from clearspeech.evaluation.metrics import si_sdr
from clearspeech.peers.compare import EvaluationMissing, PeersConfig, compare_peers
from clearspeech.peers.delay import compensate, estimate_delay
from clearspeech.peers.runner import run_peer
from clearspeech.peers.tables import PeersReports

from conftest import write_checkpoint, write_mixtures
from peer_fakes import SHIFT, STARTUP_SECONDS

RATE = 16000
FAKES = {name: f"peer_fakes:{cls}" for name, cls in
         (("delays", "Delays"), ("raises", "Raises"), ("hangs", "Hangs"), ("crashes", "Crashes"),
          ("slow_start", "SlowStart"), ("hangs_starting", "HangsStarting"))}


@pytest.fixture
def speech(shared_data) -> np.ndarray:
    return load_mono(shared_data / "arctic" / "cmu_us_bdl_arctic" / "wav" / "arctic_a0006.wav", RATE)


@pytest.mark.parametrize("shift", [0, 37, 480, -23])
def test_delay_of_real_speech_is_recovered_and_removed(speech, shift):
    rng = np.random.default_rng(0)
    noisy = speech + 0.01 * rng.standard_normal(speech.size).astype(np.float32)
    shifted = np.concatenate([np.zeros(shift, np.float32), noisy]) if shift >= 0 else noisy[-shift:]
    assert estimate_delay(shifted, noisy, 1000) == shift
    aligned = compensate(shifted, shift, noisy.size)
    kept = slice(max(0, -shift), None)  # a leading output lost its first samples: zeros there
    assert aligned.size == noisy.size
    np.testing.assert_array_equal(aligned[kept], noisy[kept])


def test_delay_search_window_and_silence():
    with pytest.raises(ValueError, match="silent"):
        estimate_delay(np.zeros(100, np.float32), np.ones(100, np.float32), 10)
    with pytest.raises(ValueError, match="max_lag"):
        estimate_delay(np.ones(10, np.float32), np.ones(10, np.float32), -1)


def _real_mixtures(speech: np.ndarray, root) -> pd.DataFrame:
    rows = []
    for index, cut in enumerate((speech, speech[: speech.size // 2])):
        noisy = cut + 0.02 * np.random.default_rng(index).standard_normal(cut.size).astype(np.float32)
        write_audio(root / f"m{index}.wav", noisy, RATE)
        rows.append({"id": f"m{index}", "noisy_path": str(root / f"m{index}.wav")})
    return pd.DataFrame(rows)


def test_runner_measures_and_removes_a_peers_delay(speech, tmp_path):
    test = _real_mixtures(speech, tmp_path)
    result = run_peer("delays", FAKES["delays"], test, tmp_path / "out", RATE, timeout=120, max_delay_ms=100)
    assert result["status"] == "ok" and result["delay_samples"] == SHIFT
    assert result["latency_ms"] == pytest.approx(10.0 + 1000 * SHIFT / RATE) and result["rtf_1thread"] > 0
    for row in test.itertuples():
        out, noisy = load_mono(tmp_path / "out" / f"{row.id}.wav", RATE), load_mono(row.noisy_path, RATE)
        assert out.size == noisy.size and si_sdr(out, noisy) > 60.0
    assert json.loads((tmp_path / "out" / "run.json").read_text())["mixtures"] == 2


@pytest.mark.parametrize(("name", "reason"), [("raises", "RuntimeError: this peer always fails"),
                                              ("crashes", "exit status 139"), ("hangs", "timed out after 4 s")])
def test_a_failing_peer_is_reported(speech, tmp_path, name, reason):
    result = run_peer(name, FAKES[name], _real_mixtures(speech, tmp_path), tmp_path / "out", RATE, timeout=4,
                      max_delay_ms=100)
    assert result["status"] == "failed" and reason in result["error"]


def test_the_time_limit_starts_when_the_peer_is_ready(speech, tmp_path):
    """A peer slower to start than its whole limit still runs: start-up (a fresh interpreter
    importing torch, then the adapter's model) is not the peer's work. No test may depend on
    the machine's speed, and a slow machine only lengthens the start-up."""
    limit = STARTUP_SECONDS - 1.0  # the work itself: two short files, well under a second
    result = run_peer("slow_start", FAKES["slow_start"], _real_mixtures(speech, tmp_path), tmp_path / "out", RATE,
                      timeout=limit, max_delay_ms=100)
    assert result["status"] == "ok" and result["delay_samples"] == SHIFT


def test_a_peer_that_never_gets_ready_is_stopped_by_the_start_up_limit(speech, tmp_path):
    result = run_peer("hangs_starting", FAKES["hangs_starting"], _real_mixtures(speech, tmp_path), tmp_path / "out",
                      RATE, timeout=600, max_delay_ms=100, startup_timeout=3)
    assert result == {"name": "hangs_starting", "status": "failed",
                      "error": "start-up timed out after 3 s (not ready)"}
    assert not (tmp_path / "out" / "job.json").exists()


@pytest.mark.slow
def test_comparison_completes_beside_failing_peers(tmp_path):
    """The stage's library call end to end: evaluate's table, one good and two failing peers."""
    manifest = write_mixtures(tmp_path / "mixtures")
    checkpoint = write_checkpoint(tmp_path / "model.pt")
    out = tmp_path / "metrics"
    evaluate(manifest, checkpoint, EvaluateConfig(device="cpu", threads=1, workers=1, valid_mixtures=1),
             tmp_path / "enhanced",
             EvaluationReports(out / "s.json", out / "c.csv", out / "d.csv", out / "u.csv", out / "n.json"))
    specs = {name: FAKES[name] for name in ("delays", "raises", "hangs")}
    reports = PeersReports(out / "p.json", out / "p.md", out / "pc.csv", out / "ps.csv")
    report = compare_peers(manifest, out / "u.csv", checkpoint, PeersConfig(timeout=10, workers=1),
                           tmp_path / "peers", reports, specs, report_path=tmp_path / "peers.html")
    assert list(report["systems"]) == ["noisy", "model", "logmmse", "delays"]
    page = (tmp_path / "peers.html").read_text()
    assert "delays − noisy" in page and "hangs failed: timed out" in page
    assert set(report["failed"]) == {"raises", "hangs"} and "timed out" in report["failed"]["hangs"]
    # A pure delay, removed, is the noisy input again: same scores.
    assert report["systems"]["delays"]["pesq_wb"] == pytest.approx(report["systems"]["noisy"]["pesq_wb"], abs=0.01)
    assert report["peer_minus_model"]["delays"]["si_sdr"] == pytest.approx(
        report["systems"]["noisy"]["si_sdr"] - report["systems"]["model"]["si_sdr"], abs=0.05)
    table = reports.table.read_text()
    assert "`delays`" in table and "- `hangs` failed: timed out" in table
    conditions = pd.read_csv(reports.by_condition)
    assert set(conditions["system"]) == {"noisy", "model", "logmmse", "delays"}
    assert sorted((tmp_path / "peers" / "delays").glob("*.wav"))


def test_missing_evaluation_is_one_clear_error(tmp_path):
    manifest = write_mixtures(tmp_path / "mixtures")
    with pytest.raises(EvaluationMissing, match="eval_utterances.csv: not found; run the evaluate stage"):
        compare_peers(manifest, tmp_path / "eval_utterances.csv", tmp_path / "model.pt", PeersConfig(),
                      tmp_path / "peers", PeersReports.in_folder(tmp_path / "metrics"), {})


def test_unknown_peer_in_params_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown peer 'nope'.*deepfilternet3"):
        PeersConfig(peers=("nope",))
