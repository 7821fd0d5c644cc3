import numpy as np
import pytest

from clearspeech.core.audio import AudioError, read_audio
from clearspeech.data import demo
from clearspeech.data.download import CorpusError, DownloadConfig, prepare_raw

from conftest import write_local_copy


def test_local_copy_gives_manifest_in_speaker_order(tmp_path):
    local = write_local_copy(tmp_path / "local", utterances=3)
    raw = prepare_raw(DownloadConfig(source="local", local_dir=str(local), noises=("hum", "DTEST")), tmp_path / "raw")
    speech = raw[raw["kind"] == "speech"]
    assert list(dict.fromkeys(speech["speaker"])) == ["bdl", "slt"] and len(speech) == 6
    hum = raw[raw["noise"] == "hum"]
    assert len(hum) == 2 and (hum["sample_rate"] == 22050).all() and (hum["channels"] == 2).all()
    assert raw.loc[raw["noise"] == "DTEST", "duration"].item() == pytest.approx(30.0)
    assert (tmp_path / "raw" / "manifest.csv").is_file()
    for row in raw.itertuples():
        original = local / "arctic" / f"cmu_us_{row.speaker}_arctic" / "wav" / f"{row.name}.wav"
        if row.kind == "speech":
            assert open(row.path, "rb").read() == original.read_bytes()  # bytes as published


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00garbage", b"hello, not audio"])
def test_corrupt_file_in_local_copy_names_the_file(tmp_path, content):
    local = write_local_copy(tmp_path / "local", utterances=2)
    bad = local / "noise" / "hum" / "broken.wav"
    bad.write_bytes(content)
    with pytest.raises(AudioError, match="broken.wav"):
        prepare_raw(DownloadConfig(source="local", local_dir=str(local), noises=("hum",)), tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_missing_speaker_or_noise_is_reported(tmp_path):
    local = write_local_copy(tmp_path / "local", utterances=1)
    with pytest.raises(CorpusError, match="no CMU ARCTIC speaker 'awb'"):
        cfg = DownloadConfig(source="local", local_dir=str(local), speakers=("awb",), noises=("hum",))
        prepare_raw(cfg, tmp_path / "r")
    with pytest.raises(CorpusError, match="no noise 'PRESTO'"):
        prepare_raw(DownloadConfig(source="local", local_dir=str(local), noises=("PRESTO",)), tmp_path / "r")
    with pytest.raises(CorpusError, match="not a folder"):
        prepare_raw(DownloadConfig(source="local", local_dir=str(tmp_path / "nowhere")), tmp_path / "r")


def test_synthetic_source_is_labelled_demo(tmp_path):
    cfg = DownloadConfig(source="synthetic", synthetic_utterances=3, synthetic_noise_seconds=5.0)
    raw = prepare_raw(cfg, tmp_path / "raw")
    assert set(raw["source"]) == {"synthetic"}
    assert list(dict.fromkeys(raw.loc[raw["kind"] == "speech", "speaker"])) == list(demo.SPEAKERS)
    assert set(raw.loc[raw["kind"] == "noise", "noise"]) == set(demo.NOISE_KINDS)
    assert all(name.startswith("demo") for name in raw["name"])
    data, rate = read_audio(raw["path"].iloc[0])
    assert rate == 16000 and np.abs(data).max() > 0.1


def test_shared_data_works_as_is(shared_data, tmp_path):
    noises = ("kitchen", "machine", "water", "music", "playground")
    raw = prepare_raw(DownloadConfig(source="local", local_dir=str(shared_data), noises=noises), tmp_path / "raw")
    assert raw.groupby("speaker").size().to_dict() == {"": 25, "bdl": 240, "slt": 240}
    assert raw.loc[raw["kind"] == "noise"].groupby("noise").size().to_dict()["playground"] == 20


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="download.source: must be one of"):
        DownloadConfig(source="ftp")
