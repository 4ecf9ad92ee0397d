"""Screenshot of the ``lensscan inspect`` page for the README (docs/inspect.png).

Serves a catalog's candidates with the real app on 127.0.0.1, grades the first few with
the keyboard in headless Chromium (as a grader would), opens one candidate and saves the
window. Made from the demo's catalog::

    lensscan demo --out /tmp/demo
    python docs/make_inspect_screenshot.py /tmp/demo/catalog/calexp-HSC-G-9813-4,4.ecsv \
        --grades 3023 --rank 4 --comment "arcs either side of a red galaxy"

Needs playwright and a Chromium on PATH (``bash .ci/install.sh dev``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
WINDOW = {"width": 1280, "height": 940}


def main() -> None:
    """Serve, grade a few, screenshot one candidate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog", type=Path)
    parser.add_argument("--rank", type=int, default=4, help="candidate to show")
    parser.add_argument("--grades", default="201", help="keys pressed on ranks 1, 2, ...")
    parser.add_argument("--comment", default="", help="comment typed on the shown candidate")
    parser.add_argument("--out", type=Path, default=DOCS / "inspect.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from lensscan.inspect.app import create_app
    from lensscan.inspect.server import bind_socket, make_server
    from lensscan.inspect.session import open_session

    with tempfile.TemporaryDirectory() as tmp:
        session = open_session(args.catalog, Path(tmp) / "grades.sqlite", "A. Grader", top=200)
        listener = bind_socket("127.0.0.1", 0)
        server = make_server(create_app(session))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which("chromium"), args=["--no-sandbox"]
                )
                page = browser.new_page(viewport=WINDOW)
                page.goto(url + "/")
                for rank, key in enumerate(args.grades, start=1):
                    page.keyboard.press(key)
                    page.wait_for_url(f"**/candidate/{rank + 1}?**")
                page.goto(f"{url}/candidate/{args.rank}")
                if args.comment:
                    page.keyboard.press("c")
                    page.keyboard.type(args.comment)
                    page.keyboard.press("Enter")
                    page.locator("#status.saved").wait_for()
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            listener.close()
            session.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
