import time

import numpy as np
import pytest

from clearspeech.core.audio import read_audio
from clearspeech.data.download import DownloadConfig, prepare_raw
from clearspeech.data.mixing import measured_snr, noise_segment, region_bounds
from clearspeech.data.split import SPLITS, SplitConfig, split_utterances
from clearspeech.data.synthesize import SynthesizeConfig, load_noises, summarize, synthesize

from conftest import write_local_copy

NOISES = ("hum", "DTEST")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write_local_copy(root / "local", utterances=6)
    raw = prepare_raw(DownloadConfig(source="local", local_dir=str(root / "local"), noises=NOISES), root / "raw")
    split = split_utterances(raw, SplitConfig(per_speaker=(6, 6), sizes=(6, 4, 2)))
    return root, raw, split


def test_written_mixtures_have_the_exact_snr_and_counts(corpus, tmp_path):
    _, raw, split = corpus
    manifest = synthesize(split, raw, SynthesizeConfig(workers=2), tmp_path / "mix")
    assert len(manifest) == 12 * 2 * 3
    assert manifest.groupby("split").size().to_dict() == {"train": 36, "valid": 24, "test": 12}
    assert manifest["id"].is_unique
    for row in manifest.itertuples():
        noisy, rate = read_audio(row.noisy_path)
        clean, _ = read_audio(row.clean_path)
        assert rate == 16000 and len(noisy) == len(clean) == row.samples
        assert abs(measured_snr(noisy[:, 0], clean[:, 0]) - row.snr) < 0.05
        assert np.abs(noisy).max() <= 0.99 + 1e-6
    assert summarize(manifest, 16000)["max_snr_error_db"] < 0.05


def test_noise_of_each_split_comes_from_its_own_region(corpus, tmp_path):
    _, raw, split = corpus
    cfg = SynthesizeConfig(workers=1, seed=5)
    manifest = synthesize(split, raw, cfg, tmp_path / "mix")
    timelines = load_noises(raw, 16000)
    for row in manifest.itertuples():
        start, end = region_bounds(len(timelines[row.noise]), cfg.regions, SPLITS.index(row.split))
        assert start <= row.offset < end
        noisy, _ = read_audio(row.noisy_path)
        clean, _ = read_audio(row.clean_path)
        residual = (noisy[:, 0].astype(np.float64) - clean[:, 0]) / (row.gain * row.scale)
        expected = noise_segment(timelines[row.noise], row.samples, start, end, row.offset)
        np.testing.assert_allclose(residual, expected, atol=2e-4)


def test_start_mode_takes_noise_from_the_beginning(corpus, tmp_path):
    _, raw, split = corpus
    manifest = synthesize(split, raw, SynthesizeConfig(noise_segment="start", workers=1), tmp_path / "mix")
    assert (manifest["offset"] == 0).all()


def test_synthesis_is_deterministic(corpus, tmp_path):
    _, raw, split = corpus
    first = synthesize(split, raw, SynthesizeConfig(workers=2), tmp_path / "a")
    second = synthesize(split, raw, SynthesizeConfig(workers=1), tmp_path / "b")
    assert first["offset"].tolist() == second["offset"].tolist()
    a, _ = read_audio(first["noisy_path"].iloc[-1])
    b, _ = read_audio(second["noisy_path"].iloc[-1])
    np.testing.assert_array_equal(a, b)


def test_default_counts_give_6105_mixtures(tmp_path):
    local = write_local_copy(tmp_path / "local", utterances=204, seconds=0.1)
    for extra in ("x1", "x2", "x3"):
        (local / "DEMAND" / extra).mkdir(parents=True)
        (local / "DEMAND" / extra / "ch01.wav").write_bytes((local / "DEMAND" / "DTEST" / "ch01.wav").read_bytes())
    cfg = DownloadConfig(source="local", local_dir=str(local), noises=("hum", "DTEST", "x1", "x2", "x3"))
    raw = prepare_raw(cfg, tmp_path / "raw")
    split = split_utterances(raw, SplitConfig())
    manifest = synthesize(split, raw, SynthesizeConfig(), tmp_path / "mix")
    assert len(manifest) == 6105
    assert manifest.groupby("split").size().to_dict() == {"train": 4500, "valid": 1485, "test": 120}
    assert manifest.groupby("snr").size().to_dict() == {15.0: 2035, 20.0: 2035, 25.0: 2035}


def test_two_runs_write_byte_identical_mixtures(corpus, tmp_path):
    _, raw, split = corpus
    cfg = SynthesizeConfig(snrs=(20.0,), workers=1)
    synthesize(split, raw, cfg, tmp_path / "a")
    time.sleep(1.1)  # libsndfile's PEAK chunk stamped each float file with the second it was written
    synthesize(split, raw, cfg, tmp_path / "b")
    first = sorted(path.relative_to(tmp_path / "a") for path in (tmp_path / "a").rglob("*.wav"))
    assert len(first) == 12 * 2 * 2  # noisy and clean of every utterance x noise
    assert first == sorted(path.relative_to(tmp_path / "b") for path in (tmp_path / "b").rglob("*.wav"))
    for name in first:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
