"""Issue 14: every failure path of ``clearspeech enhance`` is one line, and nothing is lost."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from clearspeech.cli.app import main

from conftest import write_checkpoint

FORMATS = {".wav": "PCM_16", ".flac": "PCM_16", ".ogg": "VORBIS", ".mp3": "MPEG_LAYER_III"}


@pytest.fixture
def model(tmp_path) -> Path:
    return write_checkpoint(tmp_path / "model.pt")


def noise(seconds: float, rate: int = 16000, channels: int = 1, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((int(seconds * rate), channels))).astype(np.float32)


def run(*args: str):
    return CliRunner().invoke(main, ["enhance", "-q", "--threads", "1", *args])


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob(".*"))


def test_a_truncated_flac_is_one_line_and_the_other_files_are_enhanced(tmp_path, model):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(tmp_path / "long.flac", noise(10.0, 48000, 2), 48000, subtype="PCM_16")
    (folder / "cut.flac").write_bytes((tmp_path / "long.flac").read_bytes()[:400_000])
    for suffix, subtype in FORMATS.items():
        sf.write(folder / f"good{suffix}", noise(0.5), 16000, subtype=subtype)
    result = run(str(folder), "-o", str(tmp_path / "out"), "-m", str(model))
    # Before: soundfile.LibsndfileError: Error : flac decoder lost sync. (traceback, no outputs)
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(errors) == 1 and f"{folder / 'cut.flac'}: cannot decode the audio after" in errors[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"good{s}" for s in FORMATS)
    assert leftovers(tmp_path / "out") == []


def test_two_existing_audio_files_are_both_inputs_even_with_force(tmp_path, model):
    sf.write(tmp_path / "a.flac", noise(0.5), 16000, subtype="PCM_16")
    sf.write(tmp_path / "b.mp3", noise(0.5, seed=1), 16000)
    before = (tmp_path / "b.mp3").read_bytes()
    result = run(str(tmp_path / "a.flac"), str(tmp_path / "b.mp3"), "--force", "-m", str(model))
    # Before: b.mp3 was replaced by a.flac's enhanced audio.
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b.mp3").read_bytes() == before
    assert (tmp_path / "a_enhanced.flac").is_file() and (tmp_path / "b_enhanced.mp3").is_file()
    fresh = run(str(tmp_path / "a.flac"), str(tmp_path / "new.wav"), "-m", str(model))
    assert fresh.exit_code == 0 and (tmp_path / "new.wav").is_file()  # cp-like when the output is new
    assert "only when the second does not exist" in CliRunner().invoke(main, ["enhance", "--help"]).output


@pytest.mark.parametrize(("args", "option"), [
    (["--chunk", "inf"], "--chunk"), (["--chunk", "nan"], "--chunk"), (["--threads", "-3"], "--threads"),
    (["--context", "nan"], "--context"),
])
def test_non_finite_and_negative_options_are_refused_naming_the_option(tmp_path, model, args, option):
    sf.write(tmp_path / "a.wav", noise(0.5), 16000)
    result = run(str(tmp_path / "a.wav"), "-m", str(model), *args)
    # Before: OverflowError / ValueError tracebacks, or "bad chunk plan" without the option.
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "a_enhanced.wav").exists()


def test_mix_refuses_a_nan_snr(tmp_path):
    sf.write(tmp_path / "c.wav", noise(0.5), 16000)
    sf.write(tmp_path / "n.wav", noise(0.5, seed=1), 16000)
    result = CliRunner().invoke(main, ["mix", str(tmp_path / "c.wav"), str(tmp_path / "n.wav"), "--snr", "nan",
                                       "-o", str(tmp_path / "o.wav")])
    # Before: exit 0 and an all-NaN o.wav.
    assert result.exit_code == 2 and "Invalid value for '--snr'" in result.output
    assert not (tmp_path / "o.wav").exists()


def test_nan_weights_are_refused_before_any_file(tmp_path):
    import torch

    from clearspeech.models.checkpoint import load_checkpoint, save_checkpoint

    payload = load_checkpoint(write_checkpoint(tmp_path / "ok.pt"))
    payload["model_state"]["out.bias"].fill_(float("nan"))
    save_checkpoint(tmp_path / "nan.pt", payload)
    assert not torch.isfinite(payload["model_state"]["out.bias"]).any()
    sf.write(tmp_path / "a.wav", noise(0.5), 16000)
    result = run(str(tmp_path / "a.wav"), "-m", str(tmp_path / "nan.pt"))
    # Before: exit 0 and a full-scale DC a_enhanced.wav.
    assert result.exit_code == 1 and "nan.pt: inconsistent checkpoint (the weights contain NaN" in result.output
    assert not (tmp_path / "a_enhanced.wav").exists()


def test_dangling_and_looping_links_are_named_and_refused_inputs_counted(tmp_path, model):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "good.wav", noise(0.5), 16000)
    os.symlink(tmp_path / "gone.wav", folder / "dangling.wav")
    os.symlink(folder / "loop.wav", folder / "loop.wav")
    result = run(str(folder), "-o", str(tmp_path / "out"), "-m", str(model))
    # Before: both links skipped silently; "enhanced 1 of 1 files (0 failed)".
    assert result.exit_code == 1
    for name in ("dangling.wav", "loop.wav"):
        assert f"error: {folder / name}: symbolic link to nothing readable" in result.output
    assert "enhanced 1 of 3 files (0 failed, 2 refused)" in result.output


def test_fuzzed_folder_no_traceback_every_good_file_done_no_temp_files(tmp_path, model):
    rng = np.random.default_rng(14)
    folder = tmp_path / "in"
    folder.mkdir()
    good = []
    for suffix, subtype in FORMATS.items():
        sf.write(folder / f"good{suffix}", noise(0.6, seed=len(good)), 16000, subtype=subtype)
        good.append(f"good{suffix}")
        data = (folder / f"good{suffix}").read_bytes()
        for index, cut in enumerate(sorted(rng.integers(1, len(data), size=3))):
            (folder / f"cut{index}{suffix}").write_bytes(data[:cut])
        (folder / f"random{suffix}").write_bytes(rng.integers(0, 256, size=int(rng.integers(1, 5000)),
                                                              dtype=np.uint8).tobytes())
    result = run(str(folder), "-o", str(tmp_path / "out"), "-m", str(model))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert set(good) <= written and leftovers(tmp_path) == []


@pytest.fixture
def mounted(tmp_path):
    """Mount a tmpfs at a folder with the given options; skipped unless root and mount works."""
    import subprocess

    points = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                                               capture_output=True).returncode != 0:
            pytest.skip("needs root and tmpfs mounts")
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", str(point)], check=False)


def test_a_full_disk_names_the_file_and_mount_and_the_next_file_still_succeeds(tmp_path, model, mounted):
    disk = mounted("disk", "size=256k")
    sf.write(tmp_path / "big.wav", noise(2.0, 48000, 2), 48000, subtype="FLOAT")
    sf.write(tmp_path / "small.wav", noise(0.3), 16000, subtype="PCM_16")
    result = run(str(tmp_path / "big.wav"), str(tmp_path / "small.wav"), "-o", str(disk), "-m", str(model))
    # Before: "System error." traceback, the batch stopped.
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"error: {disk / 'big.wav'}: cannot write (no space left on {disk})" in result.output
    assert sorted(p.name for p in disk.iterdir()) == ["small.wav"]


def test_a_read_only_disk_names_the_file_and_the_cause(tmp_path, model, mounted):
    disk = mounted("ro", "ro,size=64k")
    sf.write(tmp_path / "a.wav", noise(0.3), 16000)
    result = run(str(tmp_path / "a.wav"), "-o", str(disk / "a.wav"), "-m", str(model))
    # Before: OSError: [Errno 30] Read-only file system traceback.
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"error: {disk / 'a.wav'}: cannot write (read-only file system {disk})" in result.output


def test_outputs_honour_the_umask_and_force_keeps_an_existing_mode(tmp_path, model):
    sf.write(tmp_path / "a.wav", noise(0.3), 16000)
    old = os.umask(0o022)
    try:
        assert run(str(tmp_path / "a.wav"), "-m", str(model)).exit_code == 0
        assert (tmp_path / "a_enhanced.wav").stat().st_mode & 0o777 == 0o644  # before: 0600
        (tmp_path / "a_enhanced.wav").chmod(0o640)
        assert run(str(tmp_path / "a.wav"), "-m", str(model), "--force").exit_code == 0
        assert (tmp_path / "a_enhanced.wav").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


HANGING_ENHANCE = """
import pathlib, sys, time
import clearspeech.inference.files as files
def hang(block, limit):  # inside the write loop: the temporary output exists
    pathlib.Path(sys.argv[1]).touch()
    time.sleep(120)
files._clip = hang
from clearspeech.cli.app import main
main(sys.argv[2:], prog_name="clearspeech")
"""


def test_sigterm_removes_the_temporary_output(tmp_path, model):
    import signal
    import subprocess
    import sys
    import time

    sf.write(tmp_path / "a.wav", noise(0.5), 16000)
    (tmp_path / "out").mkdir()
    marker = tmp_path / "writing"
    process = subprocess.Popen([sys.executable, "-c", HANGING_ENHANCE, str(marker), "enhance", "-q", "--threads",
                                "1", str(tmp_path / "a.wav"), "-o", str(tmp_path / "out" / "a.wav"), "-m", str(model)],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), process.communicate()[1]
    assert leftovers(tmp_path / "out")  # the hidden temporary file is there while writing
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    # Before: .a.wav.<random>.wav.tmp stayed in out/.
    assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr, stderr
    assert list((tmp_path / "out").iterdir()) == []
