"""A real headless Chromium grades candidates with the keyboard; grades survive a reload and
combine with a second grader's in the export."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from astropy.table import Table
from inspect_helpers import make_scanned_field

from lensscan.cli import app
from lensscan.inspect.app import create_app
from lensscan.inspect.server import bind_socket, make_server
from lensscan.inspect.session import open_session

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT_S = 20.0


def _chromium() -> str:
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is installed by .ci/install.sh dev"
    )
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on PATH (bash .ci/install.sh dev installs Debian's)")


@contextmanager
def serving(catalog: Path, db: Path, grader: str) -> Iterator[str]:
    """Run ``lensscan inspect``'s app in a thread on 127.0.0.1; yield its URL."""
    session = open_session(catalog, db, grader)
    listener = bind_socket("127.0.0.1", 0)
    server = make_server(create_app(session))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)
        listener.close()
        session.close()


def _grade_with_keys(page, url: str, keys: str) -> None:
    page.goto(url + "/")
    for key in keys:
        rank = int(page.locator("body").get_attribute("data-rank"))
        page.keyboard.press(key)
        page.wait_for_url(f"**/candidate/{rank + 1}?**")


def test_grade_with_the_keyboard_reload_and_combine(tmp_path: Path, runner) -> None:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    field = make_scanned_field(tmp_path / "field", n_objects=8)
    db = tmp_path / "grades.sqlite"
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("response", lambda r: problems.append(r.url) if r.status >= 400 else None)
        with serving(field.catalog, db, "ann") as url:
            _grade_with_keys(page, url, "23012")
            assert page.url.startswith(url + "/candidate/6")
            composite = page.locator("#composite")
            assert composite.evaluate("image => image.complete && image.naturalWidth") == 32
            page.keyboard.press("ArrowLeft")
            page.wait_for_url("**/candidate/5?**")
            page.reload()
            assert page.locator(".grade.current").get_attribute("data-grade") == "2"
            assert page.locator("#graded").inner_text() == "5"
            page.keyboard.press("c")
            page.keyboard.type("arc to the north-east?")
            page.keyboard.press("Enter")
            page.locator("#status.saved").wait_for()
            page.goto(url + "/")
            assert page.url.startswith(url + "/candidate/6")  # a new visit resumes
            # Leave the page before this server stops, so that no prefetch of the next
            # stamps is still in flight when it does (a refused request, not a defect).
            page.goto("about:blank")
        with serving(field.catalog, db, "bob") as url:
            _grade_with_keys(page, url, "31")
            page.goto("about:blank")  # as above: no prefetch in flight when the server stops
        browser.close()
    assert problems == []
    out = tmp_path / "graded.ecsv"
    result = runner.invoke(
        app, ["grades", "export", str(db), "--catalog", str(field.catalog), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = Table.read(out)
    assert list(table["grade_ann"][:6]) == [2, 3, 0, 1, 2, -1]
    assert list(table["grade_bob"][:3]) == [3, 1, -1]
    assert list(table["mean_grade"][:2]) == [2.5, 2.0]
    assert list(table["grade_class"][:5]) == ["A", "B", "N", "C", "B"]
    assert table["grade_comments"][4] == "ann: arc to the north-east?"
