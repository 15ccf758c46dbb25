"""Fixtures of the Python host suite: the real `baoming-server` binary with a catalog whose
registration window is open around now, and helpers the journey needs.

Environment (set by bindings/run-tests.sh): BINDINGS_SERVER_BIN (the server binary),
BINDINGS_REPO (the repository root), BINDINGS_WHEEL (the wheel installed); `baoming` is the
package installed from the wheel into the suite's fresh virtual environment.
"""

import datetime
import json
import os
import pathlib
import re
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

REPO = pathlib.Path(os.environ.get("BINDINGS_REPO", pathlib.Path(__file__).resolve().parents[3]))
SERVER_BIN = os.environ.get("BINDINGS_SERVER_BIN", str(REPO / "target" / "debug" / "baoming-server"))
OPERATOR_PASSWORD = "bindings-admin-pass-1"
EXAM = "ncre-2027-03"
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens


def catalog_open_now(toml: str, printing_now: bool = False) -> str:
    """The demo catalog with registration open from a day ago for thirty days and on-site
    confirmation from an hour ago for two days (as server/tests/support/mod.rs
    `catalog_around_now(.., Windows::OPEN)` does); the admission-ticket printing window opens in
    forty days, or, with `printing_now`, opened an hour ago for two days (`Windows::PRINTING`)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    def at(offset_secs: int) -> str:
        return (now + datetime.timedelta(seconds=offset_secs)).isoformat().replace("+00:00", "Z")

    out = []
    for line in toml.splitlines():
        t = line.lstrip()
        if t.startswith("registration = {"):
            line = f'registration = {{ opens = "{at(-86400)}", closes = "{at(30 * 86400)}" }}'
        elif t.startswith("printing = {"):
            opens, closes = (-3600, 2 * 86400) if printing_now else (40 * 86400, 48 * 86400)
            line = f'printing = {{ opens = "{at(opens)}", closes = "{at(closes)}" }}'
        elif t.startswith("window = {"):
            line = f'window = {{ opens = "{at(-3600)}", closes = "{at(2 * 86400)}" }}'
        out.append(line)
    return "\n".join(out) + "\n"


def http(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
):
    req = urllib.request.Request(base + path, data=body, method=method)
    if token:
        req.add_header("authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("content-type", "application/json" if body[:1] == b"{" else "text/plain")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    """`baoming-server serve` on a free port with a fresh data folder."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="baoming-bindings-")
        # Every BAOMING_* variable is server configuration: start from none of the caller's.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAOMING_")}
        env.update(
            BAOMING_ARGON2__MEMORY_KIB="256",
            BAOMING_ARGON2__ALLOW_WEAK_FOR_TESTS="true",
            BAOMING_THROTTLE__ADDRESS_ATTEMPTS_PER_MINUTE="1000000",
            BAOMING_LOG="warn",
            BAOMING_DEMO_OPERATOR_PASSWORD=OPERATOR_PASSWORD,
        )
        self.proc = subprocess.Popen(
            [SERVER_BIN, "--data-dir", self.dir.name, "serve", "--listen", "127.0.0.1:0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = None
        for _ in range(20):
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if self.url is None:
            self.stop()
            raise RuntimeError("the server did not start")
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def admin_token(self) -> str:
        status, body = http(
            self.url,
            "POST",
            "/api/operator/sessions",
            json.dumps({"username": "admin", "password": OPERATOR_PASSWORD}).encode(),
        )
        assert status == 200, body
        return json.loads(body)["token"]

    def import_open_catalog(self, printing_now: bool = False):
        toml = catalog_open_now(
            (REPO / "core" / "catalog" / "demo.toml").read_text(encoding="utf-8"), printing_now
        )
        status, body = http(self.url, "PUT", "/api/operator/catalog", toml.encode(), self.admin_token())
        assert status == 200, body

    def operator(self, method: str, path: str, payload=None, headers=None):
        """A call as the demo administrator over plain HTTP; returns (status, JSON or bytes)."""
        body = None if payload is None else json.dumps(payload).encode()
        status, raw = http(self.url, method, path, body, self.admin_token(), headers)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.dir.cleanup()


@pytest.fixture(scope="module")
def server():
    s = Server()
    s.import_open_catalog()
    yield s
    s.stop()


@pytest.fixture
def folder():
    with tempfile.TemporaryDirectory(prefix="baoming-device-") as d:
        yield d


def pay_on_page(url: str) -> int:
    """Pays on the payment platform's page as a browser does: opens the page, reads its form's
    hidden `trade_no` and posts the form with `action=pay` (see server/tests/payments/).
    Returns the cashier's HTTP status."""
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200, resp.status
        html = resp.read().decode("utf-8")
    assert '<form method="post" action="/cashier">' in html, html
    trade_no = re.search(r'name="trade_no" value="([^"]+)"', html).group(1)
    base = url.split("/gateway.do")[0]
    form = urllib.parse.urlencode({"trade_no": trade_no, "action": "pay"}).encode()
    req = urllib.request.Request(base + "/cashier", data=form, method="POST")
    req.add_header("content-type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def resident_id(body17: str) -> str:
    """An 18-character resident ID number with its ISO 7064 MOD 11-2 check character."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(c) * w for c, w in zip(body17, weights))
    return body17 + "10X98765432"[total % 11]


def sample_photo() -> bytes:
    """The phone picture shipped with the core (a portrait with a face)."""
    return (REPO / "core" / "assets" / "samples" / "photo.jpg").read_bytes()
