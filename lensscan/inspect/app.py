"""The grading web app (Starlette): server-rendered pages, a little JavaScript, PNG images.

Routes:

* ``GET /[?after=RANK]``: redirect to the first candidate the grader has not graded
  (after ``RANK``, wrapping around).
* ``GET /candidate/{rank}``: the page of one candidate.
* ``GET /image/{rank}/{kind}.png?stretch=NAME``: its composite (``rgb``) or one band.
* ``GET /static/{name}``: the page's own CSS and JavaScript (nothing from elsewhere).
* ``POST /api/grade``, ``/api/comment``, ``/api/undo``: record an action; JSON in and out.

Safety: no route takes a path: candidates are addressed by rank, images by a band name
checked against the catalog's bands, static files by a fixed list of names, so no URL can
read another file. Pages are rendered by Jinja2 with autoescaping (grader names,
comments and catalog text are escaped) under a Content-Security-Policy that allows only
the app's own scripts, styles and images. Data-changing requests are POSTs that must
carry the session's secret token in the ``X-Lensscan-Token`` header (a cross-site page
can neither read the token nor send the header), and the Host header must name the
loopback address the app is bound to.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import json
import math
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from lensscan.catalog.gallery import format_score
from lensscan.inspect.grades_db import GRADE_NAMES, GRADES
from lensscan.inspect.render import DEFAULT_STRETCH, STRETCHES
from lensscan.inspect.session import MAX_COMMENT, InspectSession

TOKEN_HEADER = "X-Lensscan-Token"
STATIC_FILES = {
    "inspect.css": "text/css",
    "inspect.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_BODY_BYTES = 16_384
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _sexagesimal(ra: float, dec: float) -> str:
    if not (math.isfinite(ra) and math.isfinite(dec)):
        return ""
    from astropy.coordinates import Angle

    hours = Angle(ra, "deg").to_string(unit="hourangle", sep=":", precision=2, pad=True)
    degrees = Angle(dec, "deg").to_string(
        unit="deg", sep=":", precision=1, alwayssign=True, pad=True
    )
    return f"{hours} {degrees}"


class _Pages:
    """The Jinja2 environment and the static files, loaded once."""

    def __init__(self) -> None:
        self.environment = Environment(
            loader=PackageLoader("lensscan.inspect", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        # Confident scores shown as the gallery shows them (1-8.8e-06): four decimals
        # would tie the whole top of a catalog at 1.0000.
        self.environment.filters["score"] = format_score
        folder = resources.files("lensscan.inspect") / "static"
        self.static = {name: (folder / name).read_bytes() for name in STATIC_FILES}

    def render(self, name: str, **context: Any) -> str:
        return self.environment.get_template(name).render(**context)


def create_app(session: InspectSession, allowed_hosts: Sequence[str] = LOOPBACK_HOSTS) -> Starlette:
    """The Starlette app serving one grader's session.

    Args:
        session: The session to serve.
        allowed_hosts: Host header values accepted (``*`` for any, when bound to a
            public address).
    """
    pages = _Pages()
    version = session.catalog.sha256[:12]

    def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**SECURITY_HEADERS, **(extra or {})}

    def _rank(request: Request) -> int | None:
        rank = int(request.path_params["rank"])
        return rank if 1 <= rank <= session.top else None

    def index(request: Request) -> Response:
        after = request.query_params.get("after", "")
        target = session.next_ungraded(int(after)) if after.isdigit() else None
        stretch = request.query_params.get("stretch", DEFAULT_STRETCH)
        query = f"?stretch={stretch}" if stretch in STRETCHES else ""
        rank = target or session.resume_rank()
        return RedirectResponse(f"/candidate/{rank}{query}", status_code=303)

    def candidate(request: Request) -> Response:
        rank = _rank(request)
        if rank is None:
            return _not_found()
        stretch = request.query_params.get("stretch", DEFAULT_STRETCH)
        if stretch not in STRETCHES:
            stretch = DEFAULT_STRETCH
        view = session.view(rank, stretch)
        page = pages.render(
            "candidate.html",
            view=view,
            grader=session.grader,
            catalog_name=session.catalog.path.name,
            bands=session.bands,
            stretch=stretch,
            stretches=list(STRETCHES),
            grades=[(g, GRADE_NAMES[g]) for g in GRADES],
            token=session.token,
            version=version,
            sexagesimal=_sexagesimal(view["ra"], view["dec"]),
            # A cutout store records its own pixel scale when the catalog does not.
            pixel_scale=session.catalog.pixel_scale or getattr(session.stamps, "pixel_scale", None),
            stamp_size=getattr(session.stamps, "size", None),
        )
        return Response(page, media_type="text/html; charset=utf-8", headers=_headers())

    def image(request: Request) -> Response:
        rank = _rank(request)
        kind = request.path_params["kind"]
        stretch = request.query_params.get("stretch", DEFAULT_STRETCH)
        if rank is None or kind not in session.images.kinds or stretch not in STRETCHES:
            return _not_found()
        png = session.images.get(session.row_of_rank(rank), kind, stretch)
        cache = {"Cache-Control": "private, max-age=86400, immutable"}
        return Response(png, media_type="image/png", headers=_headers(cache))

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return _not_found()
        return Response(pages.static[name], media_type=STATIC_FILES[name], headers=_headers())

    async def _action_body(request: Request) -> dict[str, Any] | Response:
        token = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(token.encode(), session.token.encode()):
            return _error(403, "missing or wrong session token (reload the page)")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "request too large")
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "body is not JSON")
        if not isinstance(data, dict):
            return _error(400, "body must be a JSON object")
        request_id = data.get("request_id")
        if request_id is not None and (not isinstance(request_id, str) or len(request_id) > 64):
            return _error(400, "request_id must be a string of at most 64 characters")
        return data

    def _action_rank(data: dict[str, Any]) -> int | None:
        rank = data.get("rank")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= session.top:
            return None
        return rank

    def _comment(data: dict[str, Any]) -> str | Response | None:
        comment = data.get("comment")
        if comment is None:
            return None
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            return _error(400, f"comment must be text of at most {MAX_COMMENT} characters")
        return comment

    def _acknowledge(rank: int | None, grade: int | None, comment: str) -> Response:
        graded = session.progress()
        return JSONResponse(
            {
                "ok": True,
                "rank": rank,
                "grade": grade,
                "comment": comment,
                "graded": graded,
                "top": session.top,
                "next_ungraded": session.next_ungraded(rank or 1),
                "saved_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            },
            headers=_headers(),
        )

    def _grade(data: dict[str, Any]) -> Response:
        rank = _action_rank(data)
        value = data.get("grade")
        if rank is None:
            return _error(400, f"rank must be an integer in 1..{session.top}")
        if isinstance(value, bool) or value not in GRADES:
            return _error(400, "grade must be 0, 1, 2 or 3")
        comment = _comment(data)
        if isinstance(comment, Response):
            return comment
        action = session.db.record_grade(
            session.grader, session.row_of_rank(rank), value, comment, data.get("request_id")
        )
        return _acknowledge(rank, action.grade, action.comment)

    def _set_comment(data: dict[str, Any]) -> Response:
        rank = _action_rank(data)
        text = _comment(data)
        if isinstance(text, Response):
            return text
        if rank is None or text is None:
            return _error(400, "give rank and comment")
        action = session.db.record_grade(
            session.grader, session.row_of_rank(rank), None, text, data.get("request_id")
        )
        return _acknowledge(rank, action.grade, action.comment)

    def _undo(data: dict[str, Any]) -> Response:
        action = session.db.undo(session.grader, data.get("request_id"))
        rank = None
        if action.row is not None:
            rank = int(session.catalog.rank_of_row()[action.row])
        return _acknowledge(rank, action.grade, action.comment)

    def _action(handler: Callable[[dict[str, Any]], Response]):
        async def endpoint(request: Request) -> Response:
            data = await _action_body(request)
            if isinstance(data, Response):
                return data
            # SQLite waits for the disk: keep it off the event loop.
            return await run_in_threadpool(handler, data)

        return endpoint

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/candidate/{rank:int}", candidate, methods=["GET"]),
        Route("/image/{rank:int}/{kind:str}.png", image, methods=["GET"]),
        Route("/static/{name:str}", static, methods=["GET"]),
        Route("/api/grade", _action(_grade), methods=["POST"]),
        Route("/api/comment", _action(_set_comment), methods=["POST"]),
        Route("/api/undo", _action(_undo), methods=["POST"]),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]
    return Starlette(routes=routes, middleware=middleware)


def _not_found() -> Response:
    return Response("not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)


def _error(status: int, message: str) -> Response:
    return JSONResponse(
        {"ok": False, "error": message}, status_code=status, headers=SECURITY_HEADERS
    )
