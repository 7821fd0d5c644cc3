from pathlib import Path

import pytest
import torch

from clearspeech.tracking.model_source import ModelSourceError, load_model_payload, model_uri, repo_root


@pytest.fixture
def store(registered_model, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model["uri"])
    return registered_model


def same_weights(payload, checkpoint: str) -> bool:
    expected = torch.load(checkpoint, weights_only=True)["model_state"]
    return all(torch.equal(payload["model_state"][key], value) for key, value in expected.items())


def test_registry_aliases_versions_and_runs_all_give_the_registered_checkpoint(store):
    name, run_id = store["name"], store["run_id"]
    for spec in (f"models:/{name}@champion", f"models:/{name}/1", f"runs:/{run_id}/model", run_id):
        assert same_weights(load_model_payload(spec), store["checkpoint"]), spec


@pytest.mark.parametrize(("spec", "message"), [
    ("models:/clearspeech-test@nope", "models:/clearspeech-test@nope: Registered model alias nope not found"),
    ("models:/no-such-model@champion",
     "models:/no-such-model@champion: Registered Model with name=no-such-model not found"),
    ("runs:/0123456789abcdef0123456789abcdef/model",
     "runs:/0123456789abcdef0123456789abcdef/model: Run with id=0123456789abcdef0123456789abcdef not found"),
])
def test_unknown_names_aliases_and_runs_say_which(store, spec, message):
    with pytest.raises(ModelSourceError, match="^--model " + message):
        load_model_payload(spec)


def test_a_file_that_is_no_checkpoint_is_named(tmp_path):
    (tmp_path / "x.pt").write_text("hello")
    with pytest.raises(ModelSourceError, match=rf"^--model {tmp_path / 'x.pt'}: not a readable checkpoint"):
        load_model_payload(str(tmp_path / "x.pt"))


def test_uris_and_repository_root(tmp_path):
    assert model_uri("models:/a@b") == "models:/a@b" and model_uri("0" * 32) == f"runs:/{'0' * 32}/model"
    assert model_uri("model.pt") is None
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    assert repo_root(tmp_path / "sub" / "deeper") == tmp_path
    assert repo_root(Path("/")) == Path("/")


def test_an_unreachable_tracking_server_fails_within_seconds_naming_it(monkeypatch):
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    started = time.monotonic()
    with pytest.raises(ModelSourceError, match=rf"tracking store {uri}"):
        load_model_payload("models:/clearspeech@champion")
    assert time.monotonic() - started < 60  # before: over 4 minutes of retries
