"""Fixtures of the browser tests: Debian's chromium, the real server, a watched page.

Every test here is marked ``browser`` (run them in their own pytest run: sync
Playwright and the asyncio tests must not share an event loop). Under
``CI=true`` a missing browser fails the run; locally it skips.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response

from .support import Rest, Server, start_server

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Where screenshot() writes: a temporary folder, so a test run leaves the
# checkout as it was; `make screenshots` points it at docs/screenshots/ (the
# README's pictures) with EXCHANGE_SCREENSHOTS.
SCREENSHOTS = Path(
    os.environ.get("EXCHANGE_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "exchange-screenshots"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's chromium, not a downloaded one."""
    if not CHROMIUM.exists():
        message = f"chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``exchange serve`` on free ports with a fresh data dir, for the whole run."""
    srv = start_server(tmp_path_factory.mktemp("web-data"))
    yield srv
    srv.stop()


@pytest.fixture
def rest(server: Server) -> Rest:
    """A REST client without a key."""
    return Rest(server.http_url)


class PageWatch:
    """Console errors, page errors and failed requests seen by one page."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected_statuses: set[int] = set()

    def console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(f"console error: {msg.text}")

    def page_error(self, exc: Exception) -> None:
        self.errors.append(f"page error: {exc}")

    def request_failed(self, request: Request) -> None:
        # A websocket the test closes on purpose is not a request failure.
        self.errors.append(f"request failed: {request.method} {request.url} {request.failure}")

    def response(self, response: Response) -> None:
        # API refusals the test provokes on purpose are answers, not failures.
        if response.status >= 400 and response.status not in self.expected_statuses:
            self.errors.append(f"HTTP {response.status}: {response.request.method} {response.url}")


@pytest.fixture
def watch(page: Page) -> Iterator[PageWatch]:
    """Fail the test if the page logs a console error, throws, or a request fails."""
    w = PageWatch()
    page.on("console", w.console)
    page.on("pageerror", w.page_error)
    page.on("requestfailed", w.request_failed)
    page.on("response", w.response)
    yield w
    # Ignore Chrome's own line for an answer the test expected (e.g. a 422).
    errors = [
        e
        for e in w.errors
        if not any(re.search(rf"status of {s}\b", e) for s in w.expected_statuses)
    ]
    assert not errors, "\n".join(errors)


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Keep a screenshot of the page in SCREENSHOTS (docs/screenshots/ for `make screenshots`)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
