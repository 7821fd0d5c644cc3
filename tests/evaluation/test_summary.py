import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clearspeech.evaluation.metrics import METRICS
from clearspeech.evaluation.summary import by_condition, delta_by_snr, mean_ci, paired_differences, summary


def scores_table():
    rows = []
    for i in range(6):
        snr = 15.0 if i < 3 else 25.0
        for system, offset in (("noisy", 0.0), ("model", 0.5), ("logmmse", 0.2)):
            values = dict.fromkeys(METRICS, 1.0 + i + offset)
            rows.append({"id": f"m{i}", "noise": "n1" if i % 2 else "n2", "snr": snr, "system": system, **values})
    table = pd.DataFrame(rows)
    table.loc[(table["id"] == "m5") & (table["system"] == "model"), "pesq_wb"] = np.nan  # a failed score
    return table


def test_mean_ci_is_the_t_interval_and_drops_nan():
    values = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan])
    mean, half, count = mean_ci(values)
    assert (mean, count) == (2.5, 4)
    assert half == pytest.approx(stats.t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2)
    assert mean_ci(pd.Series([np.nan]))[2] == 0


def test_summary_excludes_failures_and_pairs_improvements():
    report = summary(scores_table())
    assert report["model"]["pesq_wb_n"] == 5 and report["model"]["failed_scores"] == 1
    assert report["improvement_model"]["stoi"] == pytest.approx(0.5)
    assert report["improvement_model"]["pesq_wb"] == pytest.approx(0.5)  # the failed pair is left out
    assert report["improvement_logmmse"]["si_sdr"] == pytest.approx(0.2)
    assert report["improvement_model"]["stoi_ci95"] == pytest.approx(0.0, abs=1e-9)


def test_tables_by_condition_and_by_snr():
    table = scores_table()
    conditions = by_condition(table)
    all_rows = conditions[conditions["noise"] == "all"]
    assert set(all_rows["mixtures"]) == {3} and len(conditions) == 3 * (4 + 2)
    delta = delta_by_snr(table)
    assert list(delta.columns) == ["snr", "model", "logmmse"]
    assert delta["logmmse"].tolist() == pytest.approx([0.2, 0.2])
    assert np.isnan(paired_differences(table, "model").loc["m5", "pesq_wb"])
