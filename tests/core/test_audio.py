import time

import numpy as np
import pytest
import soundfile as sf

from clearspeech.core.audio import AudioError, load_mono, read_audio, resample, rms, to_mono, write_audio


def test_write_read_float_is_exact_and_leaves_no_temp_files(tmp_path):
    signal = (np.random.default_rng(0).standard_normal(8000) * 0.5).astype(np.float32)
    signal[10] = 1.7  # above full scale: FLOAT keeps it, PCM would clip
    write_audio(tmp_path / "x.wav", signal, 16000, "FLOAT")
    data, rate = read_audio(tmp_path / "x.wav")
    assert rate == 16000 and data.shape == (8000, 1)
    np.testing.assert_array_equal(data[:, 0], signal)
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]


def test_pcm_write_refuses_to_clip(tmp_path):
    with pytest.raises(AudioError, match="clip"):
        write_audio(tmp_path / "x.wav", np.array([0.5, 1.5], dtype=np.float32), 16000, "PCM_16")
    assert not list(tmp_path.iterdir())


def test_read_rejects_non_audio_empty_and_nan(tmp_path):
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioError, match="text.wav: not a readable audio file"):
        read_audio(tmp_path / "text.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="empty.wav: audio file has no samples"):
        read_audio(tmp_path / "empty.wav")
    sf.write(tmp_path / "nan.wav", np.array([0.1, np.nan], dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: audio contains NaN"):
        read_audio(tmp_path / "nan.wav")


def test_resample_keeps_a_tone_and_removes_aliases():
    t = np.arange(44100) / 44100
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    down = resample(tone, 44100, 16000)
    assert down.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(down[1000:-1000]))
    assert abs(np.argmax(spectrum) * 16000 / len(down[1000:-1000]) - 1000) < 2
    above_nyquist = np.sin(2 * np.pi * 10000 * t).astype(np.float32)
    assert rms(resample(above_nyquist, 44100, 16000)[1000:-1000]) < 1e-3


def test_load_mono_downmixes_and_resamples(tmp_path):
    stereo = np.stack([np.full(22050, 0.2), np.full(22050, 0.4)], axis=1).astype(np.float32)
    sf.write(tmp_path / "s.flac", stereo, 22050)
    mono = load_mono(tmp_path / "s.flac", 16000)
    assert mono.shape == (16000,) and mono.dtype == np.float32
    assert abs(np.median(mono) - 0.3) < 1e-3
    np.testing.assert_allclose(to_mono(stereo), 0.3, atol=1e-4)


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE", "PCM_16"])
def test_equal_audio_gives_byte_equal_files_at_any_time(tmp_path, subtype):
    # libsndfile stamps float WAVs with the write time (PEAK chunk), changing DVC's hash each run.
    stereo = np.clip(np.random.default_rng(1).standard_normal((4000, 2)) * 0.3, -0.9, 0.9).astype(np.float32)
    write_audio(tmp_path / "a.wav", stereo, 16000, subtype)
    time.sleep(1.1)  # the chunk's timestamp counts seconds
    write_audio(tmp_path / "b.wav", stereo, 16000, subtype)
    first = (tmp_path / "a.wav").read_bytes()
    assert first == (tmp_path / "b.wav").read_bytes() and b"PEAK" not in first
    data, _ = read_audio(tmp_path / "a.wav")
    if subtype != "PCM_16":
        np.testing.assert_array_equal(data, stereo)
        assert sf.info(str(tmp_path / "a.wav")).format == "WAV"  # a plain RIFF WAVE any reader opens
