"""``mlflow models serve`` on the registered model, as README shows it, over real HTTP on 127.0.0.1."""

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import requests

from clearspeech.inference.enhancer import Enhancer

from conftest import real_noisy_speech


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(registered_model, tmp_path):
    """The served champion's base URL; the server (its whole process group) is stopped afterwards."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": registered_model["uri"], "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{registered_model['name']}@champion",
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("server did not answer /ping within 120 s:\n" + (tmp_path / "server.log").read_text())
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_served_model_enhances_real_speech_and_pads_short_inputs(server, registered_model, shared_data):
    speech = real_noisy_speech(shared_data, seconds=3.0)
    response = requests.post(f"{server}/invocations", json={"inputs": [speech.tolist()]}, timeout=60)
    assert response.status_code == 200, response.text
    enhanced = np.asarray(response.json()["predictions"], dtype=np.float32)
    expected = Enhancer.from_checkpoint(registered_model["checkpoint"]).enhance(speech)
    assert enhanced.shape == (1, len(speech)) and np.abs(enhanced[0] - expected).max() < 1e-5
    short = requests.post(f"{server}/invocations", json={"inputs": [[0.01] * 100]}, timeout=60)
    assert short.status_code == 200 and np.asarray(short.json()["predictions"]).shape == (1, 100)


def test_non_finite_inputs_are_refused_with_a_clear_error():
    from clearspeech.tracking.pyfunc_model import as_waveform_batch

    # Before: served predictions came back as NaN (invalid JSON).
    with pytest.raises(ValueError, match=r"waveform 1 has a NaN or infinite sample \(index 2\)"):
        as_waveform_batch(np.array([[0.1, 0.2, 0.3], [0.1, 0.2, np.nan]], dtype=np.float32))
