import json

import numpy as np
import pytest
import torch

from clearspeech.core.audio import read_audio, write_audio
from clearspeech.core.stft import StftParams, istft, reconstruct, stft
from clearspeech.data import demo
from clearspeech.data.features import FeaturesConfig, extract_features, load_split

from conftest import write_mixtures


@pytest.mark.parametrize("params", [StftParams(), StftParams(320, 160, "hann"), StftParams(256, 64, "hamming")])
def test_stft_istft_round_trip(params):
    signal = torch.from_numpy(demo.utterance("demo_male", 2, seed=0))
    spec = stft(signal, params)
    assert spec.shape == (params.frames(len(signal)), params.bins)
    back = istft(spec, params, len(signal))
    assert torch.max(torch.abs(back - signal)) < 1e-5


def test_store_layout_offsets_and_reconstruction(tmp_path):
    manifest = write_mixtures(tmp_path / "mix")
    cfg = FeaturesConfig(workers=2)
    extract_features(manifest, cfg, tmp_path / "features")
    meta = json.loads((tmp_path / "features" / "stft.json").read_text())
    assert meta["n_fft"] == 512 and meta["hop"] == 128 and meta["bins"] == 257
    params = StftParams(meta["n_fft"], meta["hop"], meta["window"], meta["sample_rate"])
    for split, count in (("train", 4), ("valid", 2), ("test", 2)):
        store = load_split(tmp_path / "features", split)
        assert isinstance(store.noisy, np.memmap) and store.noisy.dtype == np.float16
        assert len(store.index) == count and store.noisy.shape == store.clean.shape
        assert store.noisy.shape[0] == store.index["frames"].sum()
        for row in store.index.itertuples():
            clean, _ = read_audio(row.clean_path)
            expected = torch.log(stft(torch.from_numpy(clean[:, 0]), params).abs().clamp_min(cfg.floor)).numpy()
            np.testing.assert_allclose(store.clean[row.start:row.start + row.frames], expected, atol=0.01, rtol=2e-3)
            noisy, _ = read_audio(row.noisy_path)
            noisy_spec = stft(torch.from_numpy(noisy[:, 0]), params)
            stored = torch.from_numpy(store.noisy[row.start:row.start + row.frames].astype(np.float32))
            rebuilt = reconstruct(stored, noisy_spec, params, row.samples).numpy()
            error = rebuilt - noisy[:, 0]
            assert 10 * np.log10(np.sum(noisy[:, 0] ** 2) / np.sum(error**2)) > 40  # float16 storage only
            for kind, wave in (("noisy", noisy[:, 0]), ("clean", clean[:, 0])):
                stored_wave = getattr(store, f"{kind}_wave")[row.sample_start:row.sample_start + row.samples]
                assert 10 * np.log10(np.sum(wave**2) / np.sum((stored_wave - wave) ** 2)) > 60
        assert store.noisy_wave.shape == store.clean_wave.shape == (store.index["samples"].sum(),)


def test_stats_come_from_train_only(tmp_path):
    manifest = write_mixtures(tmp_path / "mix")
    first = extract_features(manifest, FeaturesConfig(workers=1), tmp_path / "a")
    louder = manifest.copy()
    for path in louder.loc[louder["split"] != "train", "noisy_path"]:
        data, rate = read_audio(path)
        write_audio(path, data * 0.1, rate)
    second = extract_features(louder, FeaturesConfig(workers=1), tmp_path / "b")
    assert first == second
    train = load_split(tmp_path / "a", "train")
    np.testing.assert_allclose(first["noisy_mean"], train.noisy.astype(np.float64).mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(first["clean_std"], train.clean.astype(np.float64).std(axis=0), rtol=1e-4)


def test_wrong_sample_rate_names_the_file(tmp_path):
    manifest = write_mixtures(tmp_path / "mix")
    bad = manifest["noisy_path"].iloc[1]
    data, _ = read_audio(bad)
    write_audio(bad, data, 8000)
    with pytest.raises(ValueError, match="m1.wav: sample rate 8000 Hz"):
        extract_features(manifest, FeaturesConfig(workers=1), tmp_path / "features")
    assert not (tmp_path / "features").exists()
