"""The evaluation report in a real browser: headless Chromium over the DevTools protocol.

Chromium is the Debian package (`.ci/run` installs it when missing); the protocol is spoken
with aiohttp's websocket client (already installed with MLflow and DVC).
"""

import asyncio
import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from clearspeech.data import demo
from clearspeech.evaluation.metrics import METRICS
from clearspeech.evaluation.report import Example, write_evaluation_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium; .ci/run does)")

# Waits for every player's metadata (or its error) and reports what the page holds.
CHECK = """
(async () => {
  const audios = [...document.querySelectorAll('audio')];
  await Promise.all(audios.map(a => a.readyState >= 1 || a.error ? null : new Promise(done => {
    a.addEventListener('loadedmetadata', done, {once: true});
    a.addEventListener('error', done, {once: true});
    a.load();
  })));
  const images = [...document.images];
  await Promise.all(images.map(i => i.decode().catch(() => null)));
  return JSON.stringify({
    audio: audios.map(a => ({src: (a.currentSrc || '').slice(0, 22), canPlay: a.canPlayType('audio/wav'),
                             ready: a.readyState, duration: a.duration, error: a.error && a.error.code})),
    images: images.map(i => ({width: i.naturalWidth, complete: i.complete})),
    tables: document.querySelectorAll('table').length,
  });
})()
"""


async def _inspect(url: str, screenshot: str, profile: str) -> tuple[dict, list[str]]:
    import aiohttp

    browser = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio", "--remote-debugging-port=0",
        f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = None
        while port is None:
            line = (await asyncio.wait_for(browser.stderr.readline(), 60)).decode()
            if not line:
                raise RuntimeError("chromium exited before opening its DevTools port")
            if match := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line):
                port = int(match.group(1))
        async with aiohttp.ClientSession() as http:
            pages = await (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
            target = next(page for page in pages if page["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                return await _drive(ws, url, screenshot)
    finally:
        browser.kill()
        await browser.wait()


async def _drive(ws, url: str, screenshot: str) -> tuple[dict, list[str]]:
    """Navigate, collect console errors and exceptions, run CHECK, save a full-page screenshot."""
    errors: list[str] = []
    counter = iter(range(1, 10_000))
    pending: dict[int, asyncio.Future] = {}
    loaded = asyncio.Event()

    async def reader():
        async for message in ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in pending:
                pending.pop(data["id"]).set_result(data)
            elif data.get("method") == "Runtime.exceptionThrown":
                errors.append(data["params"]["exceptionDetails"].get("text", "exception"))
            elif data.get("method") == "Runtime.consoleAPICalled" and data["params"]["type"] in ("error", "assert"):
                errors.append(str(data["params"]["args"]))
            elif data.get("method") == "Log.entryAdded" and data["params"]["entry"]["level"] == "error":
                errors.append(data["params"]["entry"]["text"])
            elif data.get("method") == "Page.loadEventFired":
                loaded.set()

    async def call(method: str, **params):
        number = next(counter)
        pending[number] = asyncio.get_running_loop().create_future()
        await ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        reply = await asyncio.wait_for(pending[number], 120)
        assert "error" not in reply, reply
        return reply["result"]

    task = asyncio.create_task(reader())
    try:
        for domain in ("Page", "Runtime", "Log"):
            await call(f"{domain}.enable")
        await call("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), 120)
        result = await call("Runtime.evaluate", expression=CHECK, awaitPromise=True, returnByValue=True)
        shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(screenshot, "wb") as out:
            out.write(base64.b64decode(shot["data"]))
        return json.loads(result["result"]["value"]), errors
    finally:
        task.cancel()


def _report(path, rate=16000):
    """A report over generated speech: 2 noises x 2 SNRs, 4 mixtures, 2 examples."""
    rng = np.random.default_rng(0)
    rows, examples = [], []
    for i, (noise, snr) in enumerate([("babble", 5.0), ("babble", 15.0), ("hum", 5.0), ("hum", 15.0)]):
        clean = demo.utterance("demo_male", i, seed=0)[: 2 * rate]
        noisy = clean + 0.05 * rng.standard_normal(len(clean)).astype(np.float32)
        signals = {"noisy": noisy, "model": 0.5 * (noisy + clean), "logmmse": 0.7 * noisy + 0.3 * clean,
                   "clean": clean}
        for system, gain in (("noisy", 0.0), ("model", 0.5), ("logmmse", 0.2)):
            rows.append({"id": f"m{i}", "noise": noise, "snr": snr, "system": system,
                         **{m: 2.0 + gain + 0.1 * rng.standard_normal() for m in METRICS},
                         "dnsmos_sig": 3.0 + gain, "dnsmos_bak": 2.0 + 2 * gain, "dnsmos_ovrl": 2.5 + gain})
        if i in (0, 3):
            examples.append(Example(f"m{i}", noise, snr, signals))
    curve = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.5, 0.4, 0.35], "valid_loss": [0.6, 0.5, 0.45],
                          "lr": [1e-3, 1e-3, 5e-4]})
    write_evaluation_report(path, pd.DataFrame(rows), examples, rate, curve)


def test_report_loads_plays_and_shows_its_images_in_chromium(tmp_path):
    _report(tmp_path / "report.html")
    found, errors = asyncio.run(_inspect((tmp_path / "report.html").as_uri(), str(tmp_path / "report.png"),
                                         str(tmp_path / "profile")))
    assert errors == []
    assert len(found["audio"]) == 8
    for audio in found["audio"]:
        assert audio["src"].startswith("data:audio/wav") and audio["canPlay"] and audio["error"] is None
        assert audio["ready"] >= 1 and abs(audio["duration"] - 2.0) < 0.01
    # 2 figures (gain per SNR, training curve) and one spectrogram figure per example.
    assert len(found["images"]) == 4 and all(image["width"] > 0 for image in found["images"])
    assert found["tables"] == 3 + 2
    assert (tmp_path / "report.png").stat().st_size > 10_000
    shutil.copy(tmp_path / "report.png", tmp_path.parent / "last_report_screenshot.png")
