"""Headless Chromium driven over the DevTools protocol, with Python's standard library only.

The protocol runs over a pipe (--remote-debugging-pipe: commands in on fd 3, replies and events
out on fd 4, each a JSON text ended by a NUL byte), so no port and no WebSocket are needed.
Tests use it to load a page as a person would and to ask what happened: console errors, network
requests, dialogs, the DOM, and a screenshot.
"""

import base64
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
import unittest
import zlib

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Without the background-networking flags Chromium keeps trying to reach Google's services.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


class Browser:
    """One Chromium process with a fresh profile. Raises unittest.SkipTest if it cannot start."""

    def __init__(self, timeout=60):
        if not CHROMIUM:
            raise unittest.SkipTest("chromium is not installed (.ci/install installs it)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="parmap-chromium-")
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()

        def wire_fds():  # the child's fd 3 reads commands, its fd 4 writes replies
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + [f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
                                  "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, pass_fds=(3, 4),
            preexec_fn=wire_fds)
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self.events = []
        try:
            self.send("Target.getTargets")
        except (OSError, TimeoutError, EOFError) as e:
            tail = self._log_tail()
            self.close()
            raise unittest.SkipTest(f"chromium cannot start: {e}: {tail}")

    def _log_tail(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read()[-400:].decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for fd in (self._in, self._out):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._in], [], [], left)
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise EOFError("chromium exited")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None):
        """Sends a command and returns its result; events met meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, session, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for e in self.events:
                if e.get("method") == method and e.get("sessionId") == session:
                    return e
            self.events.append(self._read_message(deadline))

    def open(self, url, width=1200, height=900):
        """Loads url in a new tab and waits for its load event."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session)
        return Tab(self, session, url)


class Tab:
    def __init__(self, browser, session, url):
        self.browser, self.session, self.url = browser, session, url

    def _events(self, method):
        return [e["params"] for e in self.browser.events
                if e.get("method") == method and e.get("sessionId") == self.session]

    def evaluate(self, expression):
        """The value of a JavaScript expression (DevTools may run script; the page may not)."""
        result = self.browser.send("Runtime.evaluate",
                                   {"expression": expression, "returnByValue": True},
                                   session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def console_errors(self):
        """Console errors, uncaught exceptions and error log entries (CSP violations too)."""
        errors = [p for p in self._events("Runtime.consoleAPICalled")
                  if p.get("type") in ("error", "assert")]
        errors += self._events("Runtime.exceptionThrown")
        errors += [p for p in self._events("Log.entryAdded") if p["entry"]["level"] == "error"]
        return errors

    def requests(self):
        """URLs the page asked for, the page itself excluded."""
        return [p["request"]["url"] for p in self._events("Network.requestWillBeSent")
                if p["request"]["url"] != self.url]

    def dialogs(self):
        return self._events("Page.javascriptDialogOpening")

    def screenshot(self, selector=None):
        """The viewport, or the element `selector` finds, as (width, height, rows of (r, g, b))."""
        params = {"format": "png"}
        if selector:
            box = self.evaluate(
                f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                ".getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width, "
                "r.height]; })()")
            params["clip"] = dict(zip(("x", "y", "width", "height"), box), scale=1)
            params["captureBeyondViewport"] = True
        data = self.browser.send("Page.captureScreenshot", params, session=self.session)["data"]
        return decode_png(base64.b64decode(data))


def decode_png(png):
    """A non-interlaced 8-bit RGB or RGBA PNG as (width, height, rows of (r, g, b))."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, channels)])
        previous = line
    return width, height, rows
