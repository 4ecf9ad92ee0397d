"""The grading web app through Starlette's test client: every route, tokens, escaping, paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_helpers import make_scanned_field
from starlette.testclient import TestClient

from lensscan.inspect.app import TOKEN_HEADER, create_app
from lensscan.inspect.session import open_session

GRADER = 'ann <script>alert("x")</script>'


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory):
    return make_scanned_field(tmp_path_factory.mktemp("field"), n_objects=8)


@pytest.fixture
def session(field, tmp_path: Path):
    opened = open_session(field.catalog, tmp_path / "grades.sqlite", GRADER)
    yield opened
    opened.close()


@pytest.fixture
def client(session) -> TestClient:
    return TestClient(create_app(session, allowed_hosts=["testserver"]))


def _post(client: TestClient, session, path: str, **payload) -> dict:
    response = client.post(path, json=payload, headers={TOKEN_HEADER: session.token})
    assert response.status_code == 200, response.text
    return response.json()


def test_index_resumes_at_the_first_ungraded_candidate(client, session) -> None:
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/candidate/1")
    _post(client, session, "/api/grade", rank=1, grade=3)
    _post(client, session, "/api/grade", rank=3, grade=0)
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/candidate/2")
    after = client.get("/?after=2&stretch=log", follow_redirects=False).headers["location"]
    assert after == "/candidate/4?stretch=log"


def test_candidate_page_shows_the_candidate_and_escapes_text(client, session) -> None:
    _post(client, session, "/api/grade", rank=2, grade=1, comment="<img src=x onerror=alert(1)>")
    page = client.get("/candidate/2")
    assert page.status_code == 200
    text = page.text
    assert "#2" in text and "1 / 8 graded" in text.replace('<strong id="graded">', "").replace(
        "</strong>", ""
    )
    assert "<script>alert" not in text and "&lt;script&gt;alert(&#34;x&#34;)" in text
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert 'class="grade g1 current"' in text
    assert session.token in text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "http://" not in text and "https://" not in text  # every asset from the app itself
    assert client.get("/candidate/0").status_code == 404
    assert client.get("/candidate/9").status_code == 404


def test_images_are_pngs_rendered_once(client, session) -> None:
    for kind in ("rgb", "g", "r", "i"):
        response = client.get(f"/image/1/{kind}.png?stretch=linear")
        assert response.status_code == 200 and response.content[:8] == b"\x89PNG\r\n\x1a\n"
    renders = session.images.renders
    assert client.get("/image/1/g.png?stretch=linear").status_code == 200
    assert session.images.renders == renders
    assert client.get("/image/1/z.png").status_code == 404
    assert client.get("/image/1/rgb.png?stretch=bogus").status_code == 404
    assert client.get("/image/99/rgb.png").status_code == 404


def test_static_files_and_no_path_traversal(client) -> None:
    assert client.get("/static/inspect.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/inspect.css").status_code == 200
    for url in (
        "/static/../pyproject.toml",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/..%2F..%2Fpyproject.toml",
        "/static/grades.sqlite",
        "/image/1/..%2F..%2Fcatalog.png",
        "/image/1/%2e%2e%2fetc%2fpasswd.png",
        "/candidate/..%2Fcatalog.ecsv",
        "/etc/passwd",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"pyproject" not in response.content and b"root:" not in response.content


def test_actions_need_post_and_the_session_token(client, session) -> None:
    assert client.get("/api/grade").status_code == 405
    assert client.post("/api/grade", json={"rank": 1, "grade": 2}).status_code == 403
    wrong = client.post("/api/grade", json={"rank": 1, "grade": 2}, headers={TOKEN_HEADER: "x"})
    assert wrong.status_code == 403
    assert session.db.history_length() == 0
    for bad in ({"rank": 1, "grade": 4}, {"rank": 1, "grade": True}, {"rank": 0, "grade": 1}):
        response = client.post("/api/grade", json=bad, headers={TOKEN_HEADER: session.token})
        assert response.status_code == 400
    not_json = client.post("/api/grade", content=b"{", headers={TOKEN_HEADER: session.token})
    assert not_json.status_code == 400


def test_grade_comment_undo_round_trip(client, session) -> None:
    answer = _post(client, session, "/api/grade", rank=1, grade=2, request_id="one")
    assert (answer["grade"], answer["graded"], answer["next_ungraded"]) == (2, 1, 2)
    assert _post(client, session, "/api/grade", rank=1, grade=2, request_id="one")["graded"] == 1
    assert session.db.history_length() == 1
    _post(client, session, "/api/grade", rank=4, grade=3)
    commented = _post(client, session, "/api/comment", rank=4, comment="Einstein cross?")
    assert (commented["grade"], commented["comment"]) == (3, "Einstein cross?")
    undone = _post(client, session, "/api/undo")
    assert (undone["rank"], undone["grade"], undone["comment"]) == (4, 3, "")
    undone = _post(client, session, "/api/undo")
    assert (undone["rank"], undone["grade"], undone["graded"]) == (4, None, 1)


def test_requests_for_another_host_are_refused(session) -> None:
    client = TestClient(create_app(session), base_url="http://evil.example")
    assert client.get("/candidate/1").status_code == 400
    local = TestClient(create_app(session), base_url="http://127.0.0.1:8765")
    assert local.get("/candidate/1").status_code == 200


def test_known_lens_match_is_shown(field, tmp_path: Path) -> None:
    from astropy.table import Table

    table = Table.read(field.catalog)
    table["known_lens"] = [True] + [False] * (len(table) - 1)
    table["known_name"] = ["SuGOHI J1000+0212 <A>"] + [""] * (len(table) - 1)
    table["known_separation"] = [0.42] + [float("nan")] * (len(table) - 1)
    catalog = tmp_path / "known.ecsv"
    table.write(catalog, format="ascii.ecsv")
    session = open_session(catalog, tmp_path / "g.sqlite", "ann", field_files=[field.files["g"]])
    try:
        client = TestClient(create_app(session, allowed_hosts=["testserver"]))
        first, second = client.get("/candidate/1").text, client.get("/candidate/2").text
    finally:
        session.close()
    assert "known lens <strong>SuGOHI J1000+0212 &lt;A&gt;</strong> at 0.42″" in first
    assert "known lens" not in second


def test_candidates_from_a_cutout_store(field, tmp_path: Path) -> None:
    import numpy as np

    from lensscan.data.store import write_store
    from lensscan.errors import UserError

    def store(path: Path, n: int) -> Path:
        images = np.random.default_rng(1).normal(size=(n, 3, 32, 32)).astype(np.float32)
        write_store(
            path,
            images=images,
            labels=np.full(n, -1),
            split=np.zeros(n),
            split_names=["train"],
            bands=("g", "r", "i"),
            pixel_scale=0.168,
            attrs={},
        )
        return path

    good = store(tmp_path / "good.zarr", field.n_candidates)
    session = open_session(field.catalog, tmp_path / "g.sqlite", "ann", cutouts=good)
    try:
        client = TestClient(create_app(session, allowed_hosts=["testserver"]))
        assert client.get("/image/3/i.png").content[:4] == b"\x89PNG"
    finally:
        session.close()
    short = store(tmp_path / "short.zarr", 2)
    with pytest.raises(UserError, match="holds 2 cutouts but CATALOG"):
        open_session(field.catalog, tmp_path / "g.sqlite", "ann", cutouts=short)
    with pytest.raises(UserError, match="either FIELD files or a cutout store"):
        open_session(field.catalog, tmp_path / "g.sqlite", "ann", cutouts=good, field_files=[good])
