"""The HTML reports in a real browser (issue 7): headless Chromium loads each report kind and we check, through
the Chrome DevTools Protocol, that the page loaded without console errors, that no request left the machine,
and that every chart is present and drawn; then we take a screenshot and print the page to PDF.

CDP runs over ``--remote-debugging-pipe`` (NUL-separated JSON on file descriptors 3 and 4), so the test needs
no websocket library, no port and nothing beyond the standard library and Debian's ``chromium`` package.
Chromium is found at $CHROMIUM, /usr/bin/chromium or on PATH. Without it the test is skipped, except in CI
(``CI`` set), where a missing browser is a failure: ``.ci/run`` installs it.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.report_sample import load_sample

pytestmark = pytest.mark.browser

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
    "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    # Belt and braces: even a request that slipped through could not resolve a host. It would still be seen
    # (and fail the test) because CDP reports requests before name resolution.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
LOCAL_SCHEMES = ("file:", "data:", "about:")
TIMEOUT_S = 60


def _chromium() -> str:
    for cand in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and Path(cand).exists():
            return cand
    reason = "headless Chromium not found (install Debian's 'chromium' package or set $CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must install it (.ci/run)")
    pytest.skip(reason)


# --------------------------------------------------------------------------- a minimal CDP client


class CdpBrowser:
    """Chromium driven over ``--remote-debugging-pipe``: commands go to its fd 3, replies and events come
    from its fd 4, each message a JSON text ended by a NUL byte."""

    def __init__(self, exe: str, user_data_dir: Path, log_path: Path):
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def _child_fds() -> None:
            # In the child before exec: copy the pipe ends above fd 10 first (so neither copy can land on 3 or
            # 4), then onto 3 and 4; os.dup2 makes those inheritable. Everything else Python opened is
            # close-on-exec (PEP 446), which is why close_fds=False below leaks nothing of ours.
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
            b = fcntl.fcntl(res_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        # Not pass_fds=(3, 4): that needs fds 3 and 4 open here, and matplotlib's font files come and go there.
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, close_fds=False,
            preexec_fn=_child_fds)  # noqa: PLW1509 - only fcntl/dup2
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        reply = self._pump(lambda m: m.get("id") == msg["id"], f"reply to {method}")
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, timeout: float = TIMEOUT_S) -> dict:
        for e in self.events:
            if e.get("method") == method:
                return e
        return self._pump(lambda m: m.get("method") == method, method, timeout)

    def _pump(self, done, what: str, timeout: float = TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "method" in msg:
                    self.events.append(msg)
                if done(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Chromium: no {what} within {timeout} s")
            ready, _, _ = select.select([self._res_r], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self._res_r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe while waiting for {what} "
                                       f"(exit {self.proc.poll()})")
                self._buf += chunk

    def close(self) -> None:
        try:
            os.write(self._cmd_w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        for fd in (self._cmd_w, self._res_r):
            os.close(fd)
        self._log.close()


_CHARTS_JS = """JSON.stringify({
  title: document.title,
  sections: [...document.querySelectorAll('section')].map(s => s.id),
  charts: [...document.querySelectorAll('figure[data-chart]')].map(f => {
    const svg = f.querySelector('svg');
    if (!svg) return {name: f.dataset.chart, svg: false};
    const box = svg.getBoundingClientRect();
    const vb = svg.viewBox && svg.viewBox.baseVal;
    return {name: f.dataset.chart, svg: true, width: box.width, height: box.height,
            viewBox: vb ? [vb.width, vb.height] : [0, 0],
            shapes: svg.querySelectorAll('path, rect, use').length,
            texts: svg.querySelectorAll('text').length};
  })
})"""


# Layout at 1280 px: pairs of chart texts whose boxes overlap by more than a pixel each way (a legend on a bar
# label, tick labels running into each other), and tables wider than their container (a sideways scroll).
_LAYOUT_JS = """JSON.stringify((() => {
  const overlaps = [];
  for (const f of document.querySelectorAll('figure[data-chart]')) {
    const texts = [...f.querySelectorAll('svg text')]
      .map(t => ({t: t.textContent.trim(), r: t.getBoundingClientRect()}))
      .filter(x => x.t && x.r.width > 0 && x.r.height > 0);
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
      const a = texts[i].r, b = texts[j].r;
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) overlaps.push([f.dataset.chart, texts[i].t, texts[j].t, Math.round(w), Math.round(h)]);
    }
  }
  const overflows = [];
  for (const t of document.querySelectorAll('table')) {
    const box = t.parentElement;
    if (t.scrollWidth > box.clientWidth + 1 || t.getBoundingClientRect().right > document.querySelector('main').getBoundingClientRect().right + 1)
      overflows.push([t.closest('section') && t.closest('section').id, t.scrollWidth, box.clientWidth]);
  }
  const texts = [...document.querySelectorAll('figure[data-chart] svg text')].length;
  return {overlaps, overflows, texts};
})())"""


def inspect_page(exe: str, url: str, tmp: Path) -> dict:
    """Load ``url`` and return what the page did: requests, console errors, charts."""
    browser = CdpBrowser(exe, tmp / "profile-cdp", tmp / "chromium-cdp.log")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 2000, "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.events.clear()
        browser.send("Page.navigate", {"url": url}, session=session)
        browser.wait_event("Page.loadEventFired")
        result = json.loads(browser.send("Runtime.evaluate", {"expression": _CHARTS_JS, "returnByValue": True},
                                         session=session)["result"]["value"])
        result["layout"] = json.loads(browser.send("Runtime.evaluate", {"expression": _LAYOUT_JS,
                                                                        "returnByValue": True},
                                                   session=session)["result"]["value"])
        events = list(browser.events)
    finally:
        browser.close()
    requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    errors = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            errors.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
        elif e.get("method") == "Runtime.exceptionThrown":
            errors.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
        elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            errors.append(f"log {p['entry']['level']}: {p['entry']['text']} {p['entry'].get('url', '')}")
    return {**result, "requests": requests, "errors": errors}


def _run(exe: str, args: list[str], tmp: Path, name: str) -> None:
    with open(tmp / f"chromium-{name}.log", "wb") as log:
        proc = subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp / ('profile-' + name)}", *args],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=TIMEOUT_S)
    assert proc.returncode == 0, (tmp / f"chromium-{name}.log").read_text(errors="replace")[-2000:]


# --------------------------------------------------------------------------- the tests

EXPECTED = {
    "solve": ["fleet-mix", "cost", "slo"],
    "solve-2-deployments": ["fleet-mix", "cost", "slo"],
    "solve-24-periods": ["fleet-mix", "cost", "slo", "periods"],
    "whatif": ["fleet-mix", "cost", "slo", "whatif"],
    "whatif-4-offers": ["whatif"],
    "forecast": ["forecast"],
}


def _write_report(kind: str, tmp: Path) -> Path:
    from reports.html import render_html

    s = load_sample()
    page = {
        "solve": lambda: render_html(s.build_plan(), s.loaded_scenario()),
        "solve-2-deployments": lambda: render_html(
            s.build_plan().model_copy(update={"replicas": s.build_plan().replicas[:2]}), s.loaded_scenario()),
        "solve-24-periods": lambda: render_html(s.build_plan_24(), s.loaded_scenario()),
        "whatif": lambda: render_html(s.build_plan(), s.loaded_scenario(), whatif=s.whatif_records()),
        "whatif-4-offers": lambda: render_html(None, s.loaded_scenario(), whatif=s.whatif_records_many_offers()),
        "forecast": lambda: render_html(None, s.loaded_scenario(), forecast=s.forecast_result()),
    }[kind]()
    path = tmp / f"report-{kind}.html"
    path.write_text(page, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_report_loads_offline_without_errors_and_draws_every_chart(tmp_path, kind):
    exe = _chromium()
    report = _write_report(kind, tmp_path)
    url = report.as_uri()
    page = inspect_page(exe, url, tmp_path)

    assert page["errors"] == [], page["errors"]
    assert page["requests"], "CDP saw no request at all: the check would be vacuous"
    outside = [u for u in page["requests"] if not u.startswith(LOCAL_SCHEMES)]
    assert outside == [], f"requests left the machine: {outside}"
    assert {u for u in page["requests"] if u.startswith("file:")} == {url}  # only the report itself

    assert [c["name"] for c in page["charts"]] == EXPECTED[kind]
    for c in page["charts"]:
        assert c["svg"], c
        assert c["width"] > 100 and c["height"] > 50, c
        assert c["viewBox"][0] > 0 and c["viewBox"][1] > 0, c
        assert c["shapes"] > 5 and c["texts"] > 3, c
    assert page["title"].startswith("fleetplan")
    assert "scenario" in page["sections"]

    # At 1280 px: no chart text on another (legend on a label, ticks into ticks), no table wider than the page.
    layout = page["layout"]
    assert layout["texts"] > 10, "no chart text measured: the overlap check would be vacuous"
    assert layout["overlaps"] == [], layout["overlaps"]
    assert layout["overflows"] == [], layout["overflows"]


def test_screenshot_is_not_blank(tmp_path):
    from PIL import Image

    exe = _chromium()
    report = _write_report("solve", tmp_path)
    png = tmp_path / "report.png"
    _run(exe, [f"--screenshot={png}", "--window-size=1280,2000", report.as_uri()], tmp_path, "screenshot")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as im:
        assert im.size == (1280, 2000)
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert len(colours) > 50, "a near-uniform screenshot: the page did not render"
        white = sum(n for n, c in colours if min(c) > 245)
        assert white < 0.97 * rgb.width * rgb.height


def test_report_prints_to_pdf(tmp_path):
    exe = _chromium()
    report = _write_report("whatif", tmp_path)
    pdf = tmp_path / "report.pdf"
    _run(exe, [f"--print-to-pdf={pdf}", "--no-pdf-header-footer", report.as_uri()], tmp_path, "pdf")
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 20_000
    assert data.count(b"/Type /Page\n") + data.count(b"/Type /Page/") + data.count(b"/Type/Page") >= 2 or \
        len(data) > 100_000
