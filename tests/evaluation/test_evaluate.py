import json

import numpy as np
import pandas as pd

from clearspeech.core.audio import write_audio
from clearspeech.evaluation.evaluate import SYSTEMS, EvaluateConfig, EvaluationReports, evaluate
from clearspeech.evaluation.metrics import METRICS

from conftest import write_checkpoint


def test_evaluate_scores_every_system_and_reports_failures(feature_store, tmp_path):
    _, manifest = feature_store
    silent = {"id": "silent", "split": "test", "speaker": "s", "noise": "x", "snr": 20.0, "samples": 16000,
              "noisy_path": str(tmp_path / "silent_noisy.wav"), "clean_path": str(tmp_path / "silent_clean.wav")}
    write_audio(silent["noisy_path"], np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.01, 16000)
    write_audio(silent["clean_path"], np.zeros(16000, dtype=np.float32), 16000)
    manifest = pd.concat([manifest, pd.DataFrame([silent])], ignore_index=True)
    cfg = EvaluateConfig(device="cpu", threads=1, workers=2, valid_mixtures=2)
    out = tmp_path / "metrics"
    reports = EvaluationReports(out / "s.json", out / "c.csv", out / "d.csv", out / "u.csv", out / "eval_dnsmos.json")
    curve = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.5, 0.4], "valid_loss": [0.6, 0.5], "lr": [1e-3, 1e-3]})
    report = evaluate(manifest, write_checkpoint(tmp_path / "m.pt"), cfg, tmp_path / "enhanced", reports,
                      tmp_path / "report.html", 2, curve)

    assert set(SYSTEMS) <= set(report) and {"improvement_model", "improvement_logmmse"} <= set(report)
    for system in SYSTEMS:
        assert report[system]["pesq_wb_n"] == 2 and report[system]["failed_scores"] == len(METRICS)
    assert 1.0 < report["model"]["valid_pesq_wb"] < 4.7
    assert json.loads(reports.summary.read_text())["noisy"]["si_sdr"] == report["noisy"]["si_sdr"]
    assert abs(report["noisy"]["si_sdr"] - 20.0) < 0.1
    utterances = pd.read_csv(reports.utterances)
    failed = utterances[utterances["id"] == "silent"]
    assert len(failed) == 3 and failed[list(METRICS)].isna().all().all()
    assert failed["errors"].str.contains("silent").all()
    assert sorted(p.name for p in (tmp_path / "enhanced" / "model").iterdir()) == ["m6.wav", "m7.wav", "silent.wav"]
    delta = pd.read_csv(reports.delta_pesq_by_snr)
    assert list(delta.columns) == ["snr", "model", "logmmse"]
    assert set(pd.read_csv(reports.by_condition)["system"]) == set(SYSTEMS)

    dnsmos = json.loads((tmp_path / "metrics" / "eval_dnsmos.json").read_text())
    for system in SYSTEMS:  # the silent clean reference does not stop DNSMOS: it needs none
        assert dnsmos[system]["dnsmos_ovrl_n"] == 3 and 1.0 <= dnsmos[system]["dnsmos_ovrl"] <= 5.0
    assert "improvement_model" in dnsmos and dnsmos["refused"] == {}
    page = (tmp_path / "report.html").read_text()
    assert page.count("<audio") == 2 * 4 and page.count("data:audio/wav;base64,") == 2 * 4
    assert "DNSMOS OVRL" in page and "model − noisy" in page and "training curve" in page
