"""The report in a real browser: headless Chromium driven through the Chrome DevTools protocol.

Asserts no console errors or exceptions, no request leaving the file, every chart drawn by
vega-embed (an SVG/canvas inside each chart container), the expected number of tables; saves a
full-page PNG under the work dir's ``results/`` for a human to look at.
Runtime: ~15 s per page (Chromium start-up, the 0.9 MB vega bundle, rendering).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from emocue import report
from emocue.report.sections import body_sections
from emocue.config import load_config

websocket = pytest.importorskip(
    "websocket", reason="websocket-client is in envs/requirements-dev.txt"
)

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (`bash envs/setup.sh --test` installs it)"
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)
PAGE_STATE = """(() => {
  const figures = [...document.querySelectorAll("figure.chart")];
  return {
    charts: figures.length,
    drawn: figures.filter((f) => f.querySelector(".chart-live svg, .chart-live canvas")).length,
    fallbacks_left: document.querySelectorAll(".chart-fallback").length,
    tables: document.querySelectorAll("table.data").length,
    expected_tables: Number(document.body.dataset.tables),
    sections: [...document.querySelectorAll("main > section")].map((s) => s.id),
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  };
})()"""


class DevToolsPage:
    """The smallest CDP client that does the job: one page target, commands and recorded events."""

    def __init__(self, websocket_url: str):
        self.socket = websocket.create_connection(websocket_url, timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    return event
            seen = len(self.events)
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(f"no {method} within {timeout} s")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


def open_in_chromium(html_path: Path, screenshot: Path) -> tuple[dict, list[dict]]:
    """Load the page, wait for every chart, take a full-page screenshot; return (state, events)."""
    # Chromium's helper processes (crashpad, zygote) can still write into the profile while it is
    # removed; a leftover temp file is no test failure.
    with tempfile.TemporaryDirectory(prefix="emocue-chromium-", ignore_cleanup_errors=True) as profile:
        stderr = open(
            Path(profile) / "stderr.txt", "w+"
        )  # a file, so a chatty browser never blocks
        browser = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}/data", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group, so all its helpers end with it
        )
        try:
            port = _devtools_port(browser, Path(profile) / "data", stderr)
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/json/list", timeout=30
            ) as response:
                target = next(t for t in json.load(response) if t["type"] == "page")
            page = DevToolsPage(target["webSocketDebuggerUrl"])
            for domain in ("Page", "Runtime", "Log", "Network"):
                page.send(f"{domain}.enable")
            page.send(
                "Emulation.setDeviceMetricsOverride",
                width=1400,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            page.send("Page.navigate", url=html_path.resolve().as_uri())
            page.wait_for("Page.loadEventFired")
            state = _wait_for_charts(page)
            page.send(
                "Emulation.setDeviceMetricsOverride",
                width=1400,
                height=min(state["height"], 16000),
                deviceScaleFactor=1,
                mobile=False,
            )
            shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            page.socket.close()
            return state, page.events
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGTERM)
            browser.wait(timeout=30)
            stderr.close()


def _devtools_port(browser: subprocess.Popen, user_data_dir: Path, stderr) -> int:
    """Chromium writes the port it chose (--remote-debugging-port=0) to DevToolsActivePort."""
    deadline = time.monotonic() + 60
    port_file = user_data_dir / "DevToolsActivePort"
    while time.monotonic() < deadline and browser.poll() is None:
        if port_file.is_file() and port_file.read_text().strip():
            return int(port_file.read_text().split()[0])
        time.sleep(0.1)
    stderr.seek(0)
    raise RuntimeError(f"chromium did not start its DevTools server:\n{stderr.read()[-3000:]}")


def _wait_for_charts(page: DevToolsPage, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(PAGE_STATE)
        if state["drawn"] == state["charts"] or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def problems(events: list[dict]) -> tuple[list[str], list[str]]:
    """(console errors and uncaught exceptions, requests for anything but the file itself)."""
    errors, requests = [], []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append(
                " ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            errors.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file://", "data:", "about:")):
                requests.append(url)
    return errors, requests


def check_page(
    html_path: Path, screenshot: Path, expected_tables: int, expected_charts: int
) -> dict:
    state, events = open_in_chromium(html_path, screenshot)
    errors, requests = problems(events)
    assert errors == [], f"console errors: {errors}"
    assert requests == [], f"requests leaving the file: {requests}"
    assert state["charts"] == expected_charts and state["drawn"] == state["charts"], state
    assert state["fallbacks_left"] == 0, state  # every live chart replaced its static SVG
    assert state["tables"] == expected_tables == state["expected_tables"], state
    body = [spec.id for spec in body_sections()]  # the registered sections, in page order
    assert state["sections"] == ["summary", *body, "provenance"]
    assert {"data", "models", "sweep", "fusion", "attention"} <= set(body)
    assert screenshot.stat().st_size > 10_000
    return state


def test_synthetic_report_in_chromium(tmp_path):
    from test_report import make_results

    config = load_config(REPO / "config.yaml")
    results = make_results(
        tmp_path, config, utterances_per_session=40, transcript="<script>alert(1)</script>"
    )
    built = report.write_report(results, config, results / "report.html")
    check_page(
        results / "report.html", results / "report-screenshot.png", built.n_tables, built.n_charts
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_tiny_run_report_in_chromium(tiny_run):
    """The acceptance check: the report of the real tiny end-to-end run (`rule all`)."""
    html = tiny_run / "results" / "report.html"
    assert html.is_file(), "rule all did not produce results/report.html"
    text = html.read_text()
    expected_tables = int(re.search(r'data-tables="(\d+)"', text)[1])
    expected_charts = int(re.search(r'data-charts="(\d+)"', text)[1])
    assert expected_charts >= 4
    check_page(
        html, tiny_run / "results" / "report-screenshot.png", expected_tables, expected_charts
    )
