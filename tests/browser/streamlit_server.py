"""Start ``streamlit run app.py`` on a free localhost port and drive it with Chromium.

Used by tests/test_browser.py and figures/make_screenshot.py. The browser is
the system Chromium (Debian package ``chromium``); nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: URL path of each page: Streamlit names pages/N_Name.py "Name".
PAGE_PATHS = ["", "Input", "Panels", "Text", "Faces", "Features", "Reduction", "Clustering", "Evaluation"]


def free_port() -> int:
    """Return a TCP port on localhost that no process listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], startup_timeout: float = 90.0) -> Iterator[str]:
    """Run the dashboard in a subprocess and yield its base URL; stop it on exit.

    Raises RuntimeError with the server's output when its health check does not
    respond within ``startup_timeout`` seconds.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]
    log = open(Path(env.get("COMICFACES_WORKSPACE", "/tmp")) / f"streamlit-{port}.log", "w+")
    process = subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"streamlit did not start on port {port}:\n{log.read()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextlib.contextmanager
def chromium_browser() -> Iterator:
    """Launch the system Chromium headless through Playwright and yield the browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(page, url: str, timeout_ms: float = 240_000) -> None:
    """Load ``url`` and wait until the script run has finished and the app is connected."""
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"][data-test-connection-state="CONNECTED"]',
        timeout=timeout_ms,
    )
    # Elements of the finished run are painted on the next animation frames.
    page.wait_for_timeout(500)


def exception_texts(page) -> list[str]:
    """Return the text of every exception box on the page."""
    return [element.inner_text() for element in page.query_selector_all('[data-testid="stException"]')]
