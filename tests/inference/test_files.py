from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clearspeech.core.audio import AudioError, resample
from clearspeech.inference.enhancer import ChunkSeconds, Enhancer
from clearspeech.inference.files import enhance_file, output_subtype
from clearspeech.models.checkpoint import load_checkpoint

from conftest import real_noisy_speech, write_checkpoint


@pytest.fixture(scope="module")
def enhancer(tmp_path_factory) -> Enhancer:
    return Enhancer.from_checkpoint(write_checkpoint(tmp_path_factory.mktemp("model") / "m.pt"))


@pytest.fixture(scope="module")
def speech(shared_data_module) -> np.ndarray:
    return real_noisy_speech(shared_data_module, seconds=6.0)


@pytest.fixture(scope="module")
def shared_data_module():
    from conftest import SHARED_DATA

    if not (SHARED_DATA / "arctic").is_dir():
        pytest.skip(f"real audio not found at {SHARED_DATA} (the ../shared/data copy described in README)")
    return SHARED_DATA


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(("suffix", "rate", "subtype"), [
    (".flac", 44100, "PCM_24"), (".wav", 48000, "FLOAT"), (".ogg", 22050, "VORBIS"), (".mp3", 44100, "MPEG_LAYER_III"),
])
def test_rate_channels_and_subtype_are_kept(tmp_path, enhancer, speech, suffix, rate, subtype):
    stereo = resample(np.stack([speech, 0.5 * speech[::-1]], axis=1), 16000, rate)
    sf.write(tmp_path / f"in{suffix}", stereo * 0.5, rate, subtype=subtype)
    result = enhance_file(enhancer, tmp_path / f"in{suffix}", tmp_path / f"out{suffix}")
    info, original = sf.info(tmp_path / f"out{suffix}"), sf.info(tmp_path / f"in{suffix}")
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (rate, 2, subtype, original.frames)
    assert result.seconds == pytest.approx(original.frames / rate) and leftovers(tmp_path) == []
    out, _ = sf.read(tmp_path / f"out{suffix}", dtype="float32")
    noisy, _ = sf.read(tmp_path / f"in{suffix}", dtype="float32")
    assert np.abs(out - noisy).mean() > 1e-3 and np.isfinite(out).all()  # it did something


def test_streamed_file_equals_the_in_memory_pass(tmp_path, enhancer, speech):
    sf.write(tmp_path / "in.wav", speech, 16000, subtype="FLOAT")
    seconds = ChunkSeconds(chunk=2.0, context=0.5, fade=0.1)
    enhance_file(enhancer, tmp_path / "in.wav", tmp_path / "out.wav", seconds)
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    np.testing.assert_allclose(out, enhancer.enhance_signal(speech[:, None], 16000, seconds)[:, 0], atol=1e-6)


def test_nan_in_the_middle_fails_naming_file_and_time_and_writes_nothing(tmp_path, enhancer, speech):
    broken = speech.copy()
    broken[5 * 16000] = np.nan
    sf.write(tmp_path / "in.wav", broken, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"in\.wav: audio contains NaN or infinite samples \(at 5\.00 s\)"):
        enhance_file(enhancer, tmp_path / "in.wav", tmp_path / "out.wav", ChunkSeconds(2.0, 0.5, 0.1))
    assert not (tmp_path / "out.wav").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not a readable audio file"),
    (b"This is a text file, not audio.\n" * 20, "not a readable audio file"),
    ("header-only", "audio file has no samples"),
    ("short", r"20\.0 ms of audio is shorter than one STFT frame \(32 ms\)"),
])
def test_unusable_files_fail_with_one_clear_line(tmp_path, enhancer, content, message):
    path = tmp_path / "bad.wav"
    if content == "header-only":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    elif content == "short":
        sf.write(path, np.full(320, 0.1, dtype=np.float32), 16000)
    else:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=rf"^{path}: {message}"):
        enhance_file(enhancer, path, tmp_path / "out.wav")
    assert not (tmp_path / "out.wav").exists()


def test_output_format_follows_the_destination_suffix(tmp_path):
    sf.write(tmp_path / "in.flac", np.zeros(1000, dtype=np.float32), 16000, subtype="PCM_24")
    with sf.SoundFile(tmp_path / "in.flac") as handle:
        assert output_subtype(handle, tmp_path / "o.flac", None) == ("FLAC", "PCM_24")
        assert output_subtype(handle, tmp_path / "o.wav", None) == ("WAV", "PCM_16")  # another format: its default
        assert output_subtype(handle, tmp_path / "o.wav", "FLOAT") == ("WAV", "FLOAT")
        with pytest.raises(AudioError, match="FLAC cannot hold subtype FLOAT"):
            output_subtype(handle, tmp_path / "o.flac", "FLOAT")
        with pytest.raises(AudioError, match="cannot write audio with suffix '.xyz'"):
            output_subtype(handle, tmp_path / "o.xyz", None)


def test_pcm_output_clips_what_it_cannot_hold_and_counts_it(tmp_path, speech, caplog):
    payload = load_checkpoint(write_checkpoint(tmp_path / "m.pt"))
    payload["model_state"]["out.weight"].zero_()
    payload["model_state"]["out.bias"].fill_(30.0)  # a mask of ones: the output is the input
    loud = speech / np.abs(speech).max() * 1.5
    sf.write(tmp_path / "in.wav", loud, 16000, subtype="FLOAT")
    result = enhance_file(Enhancer(payload), tmp_path / "in.wav", tmp_path / "out.wav", subtype="PCM_16")
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    beyond = np.count_nonzero(np.abs(loud) > 1.0)  # the mask is 1 - 1e-13, the iSTFT exact to ~1e-6
    assert beyond > 100 and abs(result.clipped - beyond) <= 0.01 * beyond
    assert np.abs(out).max() <= 1.0 and "samples beyond full scale were clipped" in caplog.text
