"""Fixtures for the pages: logged-in test clients, and a real headless Chromium.

The browser tests serve the app from a thread (werkzeug on 127.0.0.1, a free port) on
the test database and drive Debian's chromium through chromium-driver (selenium). They
save a screenshot of every page they visit under tests/artifacts/ for a reviewer. Without
chromium they are skipped, unless REQUIRE_BROWSER=1 makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_wsgi import ServedApp

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PHONE = {"width": 390, "height": 844, "pixelRatio": 2.0}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def field(html: str, name: str) -> str:
    """The value of a hidden input on a page."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no field {name}"
    return found.group(1)


def login(client: Any, demo: dict[str, Any], who: str) -> None:
    """Log a test client in as a demo person."""
    page = client.get("/login").get_data(as_text=True)
    resp = client.post(
        "/login",
        data={"csrf_token": csrf_of(page), "login": who, "password": demo["passwords"][who]},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]


@pytest.fixture
def as_person(client: Any, demo: dict[str, Any]) -> Any:
    """Log the test client in as a demo person: ``as_person("regulator")``."""

    def log_in(who: str) -> Any:
        login(client, demo, who)
        return client

    return log_in


# --- the browser -------------------------------------------------------------------------


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The app served on 127.0.0.1 from a thread; its base URL. At the end it waits for the
    requests the browser still had in flight (tests/live_wsgi.py)."""
    served = ServedApp(app)
    try:
        yield f"http://127.0.0.1:{served.port}"
    finally:
        served.stop()


def browser_missing() -> None:
    """Skip a browser test when Debian's chromium is missing, or fail it when the run
    requires the browser (REQUIRE_BROWSER=1, as CI sets it): never a silent pass."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists() and shutil.which("chromedriver") is not None:
        return
    why = "Debian's chromium and chromium-driver are not installed (make install does)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{why}, and REQUIRE_BROWSER=1 requires the browser tests", pytrace=False)
    pytest.skip(why)


def _chromium(mobile: bool, camera: Path | None = None) -> Any:
    browser_missing()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--lang=zh-CN", "--use-fake-device-for-media-stream",
    ):  # fmt: skip
        options.add_argument(arg)
    if camera is not None:  # a fake camera that films this Y4M file, permission granted
        options.add_argument(f"--use-file-for-fake-video-capture={camera}")
        options.add_argument("--use-fake-ui-for-media-stream")
    if mobile:
        options.add_experimental_option(
            "mobileEmulation",
            {"deviceMetrics": PHONE, "userAgent": "Mozilla/5.0 (Linux; Android 14) Mobile"},
        )
    else:
        options.add_argument("--window-size=1366,900")
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


@pytest.fixture
def desktop() -> Iterator[Any]:
    """A headless Chromium with a desktop window."""
    driver = _chromium(mobile=False)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def phone() -> Iterator[Any]:
    """A headless Chromium emulating a phone (390×844)."""
    driver = _chromium(mobile=True)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def phone_filming() -> Iterator[Any]:
    """A phone-sized Chromium whose camera films a given Y4M file: ``phone_filming(path)``."""
    drivers: list[Any] = []

    def start(y4m: Path) -> Any:
        drivers.append(_chromium(mobile=True, camera=y4m))
        return drivers[-1]

    yield start
    for driver in drivers:
        driver.quit()


def y4m_of(png: Path, out: Path, width: int = 640, height: int = 480) -> Path:
    """A short Y4M video (4:2:0) showing a picture on white: what the fake camera films."""
    from PIL import Image

    canvas = Image.new("RGB", (width, height), "white")
    picture = Image.open(png).convert("RGB")
    picture.thumbnail((height - 40, height - 40))
    canvas.paste(picture, ((width - picture.width) // 2, (height - picture.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (width // 2, height // 2)
    frame = b"FRAME\n" + y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    out.write_bytes(header + frame * 10)
    return out


def shot(driver: Any, name: str) -> Path:
    """Save a screenshot of the viewport under tests/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def public_report(client: Any, code: str, html: str, kind: str, note: str) -> Any:
    """Send the public page's report form (``html``: the page it is on) as a passer-by."""
    form = {"csrf_token": csrf_of(html), "token": field(html, "token"), "kind": kind}
    return client.post(f"/c/{code}/report", data={**form, "note": note})


def browser_login(driver: Any, base: str, demo: dict[str, Any], who: str) -> None:
    """Log a browser in through the login form."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login")
    driver.find_element(By.ID, "login").send_keys(who)
    driver.find_element(By.ID, "password").send_keys(demo["passwords"][who])
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()


POLL = 0.05  # seconds between two looks; selenium's default (0.5 s) idled ~0.25 s a wait


def until(driver: Any, check: Any, timeout: float = 20) -> Any:
    """Wait until ``check(driver)`` is truthy (an element replaced meanwhile is looked up
    again), polling every ``POLL`` seconds; its value."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    stale = (StaleElementReferenceException,)
    return WebDriverWait(driver, timeout, POLL, ignored_exceptions=stale).until(check)
