from pathlib import Path

from clearspeech.inference.paths import Job, plan_jobs


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_two_paths_are_input_and_output_like_cp(tmp_path):
    src = touch(tmp_path / "noisy.wav")
    plan = plan_jobs([src, tmp_path / "clean.wav"], None, force=False)
    assert plan.jobs == [Job(src, tmp_path / "clean.wav")] and plan.errors == []


def test_an_existing_output_needs_force(tmp_path):
    src, dest = touch(tmp_path / "noisy.wav"), touch(tmp_path / "clean.wav")
    refused = plan_jobs([src], str(dest), force=False)
    assert refused.jobs == [] and refused.errors == [f"{src}: output {dest} exists (use --force to overwrite)"]
    assert plan_jobs([src], str(dest), force=True).jobs == [Job(src, dest)]


def test_an_existing_second_path_is_an_input_never_an_output(tmp_path):
    a, b = touch(tmp_path / "a.flac"), touch(tmp_path / "b.mp3")
    plan = plan_jobs([a, b], None, force=True)
    assert plan.jobs == [Job(a, tmp_path / "a_enhanced.flac"), Job(b, tmp_path / "b_enhanced.mp3")]


def test_an_input_is_never_overwritten_even_with_force(tmp_path):
    src = touch(tmp_path / "a.wav")
    plan = plan_jobs([src], str(src), force=True)
    assert plan.jobs == [] and "is an input; refusing to overwrite it" in plan.errors[0]


def test_folders_are_searched_recursively_and_their_layout_kept(tmp_path):
    files = [touch(tmp_path / "in" / name) for name in ("a.wav", "sub/b.FLAC", "sub/deeper/c.mp3", "notes.txt")]
    other = touch(tmp_path / "d.ogg")
    plan = plan_jobs([tmp_path / "in", other], str(tmp_path / "out"), force=False)
    assert plan.errors == []
    assert plan.jobs == [Job(files[0], tmp_path / "out" / "a.wav"), Job(files[1], tmp_path / "out" / "sub" / "b.FLAC"),
                         Job(files[2], tmp_path / "out" / "sub" / "deeper" / "c.mp3"),
                         Job(other, tmp_path / "out" / "d.ogg")]


def test_without_output_results_go_beside_inputs_and_are_not_picked_up_again(tmp_path):
    a, b = touch(tmp_path / "a.wav"), touch(tmp_path / "b.flac")
    touch(tmp_path / "a_enhanced.wav")  # the result of an earlier run
    plan = plan_jobs([tmp_path], None, force=True)
    assert plan.jobs == [Job(a, tmp_path / "a_enhanced.wav"), Job(b, tmp_path / "b_enhanced.flac")]


def test_missing_inputs_and_name_clashes_are_reported_and_the_rest_kept(tmp_path):
    first, second = touch(tmp_path / "x" / "a.wav"), touch(tmp_path / "y" / "a.wav")
    plan = plan_jobs([first, second, tmp_path / "nope.wav", touch(tmp_path / "empty" / "readme.txt").parent],
                     str(tmp_path / "out"), force=False)
    assert plan.jobs == [Job(first, tmp_path / "out" / "a.wav")]
    assert plan.errors == [f"{tmp_path / 'nope.wav'}: no such file or folder",
                           f"{tmp_path / 'empty'}: no audio files (.wav, .flac, .ogg, .mp3) in this folder",
                           f"{second}: output {tmp_path / 'out' / 'a.wav'} is already written by another input"]


def test_an_output_ending_in_a_slash_is_a_folder(tmp_path):
    src = touch(tmp_path / "a.wav")
    assert plan_jobs([src], str(tmp_path / "out") + "/", force=False).jobs == [Job(src, tmp_path / "out" / "a.wav")]
