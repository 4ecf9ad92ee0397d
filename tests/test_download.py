"""``lensscan download`` and the manifest: HTTP (loopback only), file:// and mirror sources."""

from __future__ import annotations

import functools
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import HEADLINE

from lensscan.cli import app
from lensscan.errors import UserError
from lensscan.models import create_lens_finder, load_model, save_model
from lensscan.models.download import download_model, format_size
from lensscan.models.manifest import (
    MANIFEST_FORMAT,
    MIRROR_ENV,
    PACKAGED_MANIFEST,
    build_manifest,
    load_manifest,
    manifest_from_dict,
)
from lensscan.models.weights import DEFAULT_MODEL, PACKAGE_WEIGHTS, WEIGHTS_ENV
from lensscan.provenance import sha256_file


@pytest.fixture(scope="module")
def manifest_file(published: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of ``published`` without a base URL (sources come from the test)."""
    path = tmp_path_factory.mktemp("manifest") / "manifest.json"
    path.write_text(build_manifest(published).to_json())
    return path


class _Handler(SimpleHTTPRequestHandler):
    """Serves the published folder; /corrupt/, /drop/ and /slow/ misbehave on purpose."""

    release: threading.Event

    def do_GET(self) -> None:
        kind, _, rest = self.path.lstrip("/").partition("/")
        if kind == "corrupt":
            data = bytearray((Path(self.directory) / rest).read_bytes())
            data[len(data) // 2] ^= 0xFF
            self._send(bytes(data), len(data))
        elif kind == "drop":
            data = (Path(self.directory) / rest).read_bytes()
            # Announce every byte, send half, then hang up.
            self._send(data[: len(data) // 2], len(data))
            self.close_connection = True
        elif kind == "slow":
            self.release.wait(10)
        else:
            super().do_GET()

    def _send(self, body: bytes, announced: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def server(published: Path) -> Iterator[str]:
    """Base URL of an HTTP server on the loopback interface serving ``published``."""
    release = threading.Event()
    handler = type("Handler", (_Handler,), {"release": release})
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(published))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder, without weights or mirror variables from the caller."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(MIRROR_ENV, raising=False)


def _download(runner, manifest_file: Path, *args: str):
    return runner.invoke(app, ["download", *args, "--manifest", str(manifest_file)])


def _error_line(result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("lensscan: error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def _assert_same_files(installed: Path, original: Path) -> None:
    assert sorted(p.name for p in installed.iterdir()) == ["model.json", "model.safetensors"]
    for name in ("model.json", "model.safetensors"):
        assert (installed / name).read_bytes() == (original / name).read_bytes()


def _assert_nothing_left(weights: Path) -> None:
    """No model folder, no temporary folder, and no weights folder made for the download."""
    assert not weights.exists()


# --- the manifest ---


def test_build_manifest_lists_each_model_folder_with_hashes(published: Path) -> None:
    manifest = build_manifest(published, "https://example.org/lensscan/")
    assert list(manifest.models) == ["tiny-a", "tiny-b"]
    entry = manifest.models["tiny-a"]
    assert (entry.encoder, entry.method, entry.bands) == ("small_cnn", "untrained", ("g", "r", "i"))
    assert entry.metrics == HEADLINE
    assert manifest.models["tiny-b"].method == "supervised"
    for file in entry.files:
        path = published / "tiny-a" / file.name
        assert file.url == f"tiny-a/{file.name}"
        assert file.sha256 == sha256_file(path)
        assert file.size == path.stat().st_size
    assert entry.size == sum(f.size for f in entry.files)


def test_manifest_round_trips_through_json_and_keeps_descriptions(
    published: Path, tmp_path: Path
) -> None:
    first = build_manifest(published, "../weights/").to_dict()
    first["models"][0]["description"] = "gri, tuned on HSC"
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(first))
    loaded = load_manifest(path)
    assert loaded.to_dict() == first
    assert loaded.resolve_base_url() == (tmp_path.parent / "weights").as_uri() + "/"
    rebuilt = build_manifest(published, "../weights/", previous=loaded)
    assert rebuilt.models["tiny-a"].description == "gri, tuned on HSC"


def test_build_manifest_skips_hidden_folders(published: Path, tmp_path: Path) -> None:
    shutil.copytree(published / "tiny-a", tmp_path / "w" / ".tiny-a.tmp-1234")
    shutil.copytree(published / "tiny-b", tmp_path / "w" / "tiny-b")
    assert list(build_manifest(tmp_path / "w").models) == ["tiny-b"]


def test_packaged_manifest_fetches_from_the_shipped_weights_folder() -> None:
    manifest = load_manifest()
    assert manifest.location == PACKAGED_MANIFEST
    assert json.loads(PACKAGED_MANIFEST.read_text())["base_url"] is None
    assert manifest.resolve_base_url() == PACKAGE_WEIGHTS.as_uri() + "/"
    assert load_manifest(PACKAGED_MANIFEST).resolve_base_url() == PACKAGE_WEIGHTS.as_uri() + "/"


def test_shipped_model_downloads_into_a_new_dir_offline(runner, tmp_path: Path) -> None:
    target = tmp_path / "scratch" / "weights"
    result = runner.invoke(app, ["download", DEFAULT_MODEL, "--dir", str(target)])
    assert result.exit_code == 0, result.output
    _assert_same_files(target / DEFAULT_MODEL, PACKAGE_WEIGHTS / DEFAULT_MODEL)


def test_failed_download_removes_the_dir_it_created_and_keeps_an_existing_one(
    runner, manifest_file: Path, server: str, tmp_path: Path
) -> None:
    new = tmp_path / "new" / "weights"
    args = ("tiny-a", "--base-url", server + "corrupt/")
    assert _download(runner, manifest_file, *args, "--dir", str(new)).exit_code == 2
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "existing"
    existing.mkdir()
    assert _download(runner, manifest_file, *args, "--dir", str(existing)).exit_code == 2
    assert existing.is_dir()
    assert list(existing.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other/9"), "unsupported format"),
        (lambda d: d["models"][0].update(name="../evil"), "name '../evil'"),
        (lambda d: d["models"][0]["files"][0].update(sha256="abc"), "sha256 must be 64"),
        (lambda d: d["models"][0]["files"].pop(), "files must be exactly"),
        (lambda d: d["models"].append(dict(d["models"][0])), "listed twice"),
        (lambda d: d["models"][0]["files"][1].update(size=-1), "size must be"),
    ],
)
def test_invalid_manifest_is_refused(published: Path, change, message: str) -> None:
    data = build_manifest(published).to_dict()
    change(data)
    with pytest.raises(UserError, match=message):
        manifest_from_dict(data, Path("m.json"))


def test_unreadable_manifest_is_one_line_error(runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["download", "x", "--manifest", str(bad)])
    assert result.exit_code == 2
    assert "not valid JSON" in _error_line(result)


# --- downloading ---


def test_download_over_http_installs_a_verified_loadable_model(
    runner, published: Path, manifest_file: Path, server: str, tmp_path: Path
) -> None:
    result = _download(runner, manifest_file, "tiny-a", "--base-url", server)
    assert result.exit_code == 0, result.output
    installed = tmp_path / "weights" / "tiny-a"
    assert "downloaded tiny-a (" in result.stdout
    assert str(installed) in result.stdout
    _assert_same_files(installed, published / "tiny-a")
    assert [p.name for p in (tmp_path / "weights").iterdir()] == ["tiny-a"]
    finder = load_model(installed, device="cpu")
    assert finder.sha256 == sha256_file(published / "tiny-a" / "model.safetensors")


def test_installed_model_is_not_downloaded_again_unless_forced(
    runner, manifest_file: Path, server: str, tmp_path: Path
) -> None:
    assert _download(runner, manifest_file, "tiny-b", "--base-url", server).exit_code == 0
    weights_file = tmp_path / "weights" / "tiny-b" / "model.safetensors"
    first_inode = weights_file.stat().st_ino
    again = _download(runner, manifest_file, "tiny-b", "--base-url", server)
    assert again.exit_code == 0
    assert "already installed" in again.stdout
    assert weights_file.stat().st_ino == first_inode
    forced = _download(runner, manifest_file, "tiny-b", "--base-url", server, "--force")
    assert forced.exit_code == 0
    assert "downloaded tiny-b" in forced.stdout
    assert weights_file.stat().st_ino != first_inode


def test_corrupted_download_is_refused_and_deleted(
    runner, published: Path, manifest_file: Path, server: str, tmp_path: Path
) -> None:
    result = _download(runner, manifest_file, "tiny-a", "--base-url", server + "corrupt/")
    assert result.exit_code == 2
    line = _error_line(result)
    expected = sha256_file(published / "tiny-a" / "model.safetensors")
    assert "tiny-a/model.safetensors" in line
    assert "sha256 mismatch" in line
    assert f"expected {expected}" in line
    assert "refused and deleted" in line
    _assert_nothing_left(tmp_path / "weights")


def test_connection_dropped_halfway_leaves_nothing(
    runner, manifest_file: Path, server: str, tmp_path: Path
) -> None:
    result = _download(runner, manifest_file, "tiny-a", "--base-url", server + "drop/")
    assert result.exit_code == 2
    line = _error_line(result)
    assert "tiny-a/model.safetensors" in line
    assert "closed after" in line
    _assert_nothing_left(tmp_path / "weights")


def test_timeout_is_a_clear_error(runner, manifest_file: Path, server: str, tmp_path: Path) -> None:
    result = _download(
        runner, manifest_file, "tiny-a", "--base-url", server + "slow/", "--timeout", "0.3"
    )
    assert result.exit_code == 2
    assert "timed out" in _error_line(result)
    _assert_nothing_left(tmp_path / "weights")


def test_http_error_is_a_clear_error(
    runner, manifest_file: Path, server: str, tmp_path: Path
) -> None:
    result = _download(runner, manifest_file, "tiny-a", "--base-url", server + "missing/")
    assert result.exit_code == 2
    assert "HTTP error 404" in _error_line(result)
    _assert_nothing_left(tmp_path / "weights")


def test_unreachable_server_is_a_clear_error(runner, manifest_file: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port was free a moment ago and nothing listens on it now: connection refused.
    base = f"http://127.0.0.1:{port}/"
    result = _download(runner, manifest_file, "tiny-a", "--base-url", base, "--timeout", "2")
    assert result.exit_code == 2
    assert f"cannot fetch {base}tiny-a/model.safetensors" in _error_line(result)
    _assert_nothing_left(tmp_path / "weights")


@pytest.mark.parametrize("form", ["file_url", "folder"])
def test_file_urls_and_local_mirror_folders(
    runner, published: Path, manifest_file: Path, tmp_path: Path, form: str
) -> None:
    base = published.as_uri() + "/" if form == "file_url" else str(published)
    result = _download(runner, manifest_file, "tiny-b", "--base-url", base)
    assert result.exit_code == 0, result.output
    _assert_same_files(tmp_path / "weights" / "tiny-b", published / "tiny-b")


def test_missing_file_behind_file_url_is_a_clear_error(
    runner, manifest_file: Path, tmp_path: Path
) -> None:
    result = _download(runner, manifest_file, "tiny-a", "--base-url", tmp_path.as_uri())
    assert result.exit_code == 2
    assert "No such file" in _error_line(result)


def test_mirror_variable_and_base_url_priority(
    runner, published: Path, manifest_file: Path, server: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv(MIRROR_ENV, server)
    result = _download(runner, manifest_file, "tiny-a")
    assert result.exit_code == 0, result.output
    assert f"from {server} " in result.stdout
    # --base-url wins over the variable: here it points at a corrupting mirror.
    result = _download(runner, manifest_file, "tiny-b", "--base-url", server + "corrupt/")
    assert result.exit_code == 2


def test_manifest_base_url_is_relative_to_the_manifest_file(
    runner, published: Path, tmp_path: Path
) -> None:
    shutil.copytree(published, tmp_path / "mirror")
    manifest_dir = tmp_path / "etc" / "lensscan"
    manifest_dir.mkdir(parents=True)
    path = manifest_dir / "manifest.json"
    # Resolved against the current folder (tmp_path) this would point outside tmp_path.
    path.write_text(build_manifest(published, "../../mirror/").to_json())
    result = _download(runner, path, "tiny-a")
    assert result.exit_code == 0, result.output
    _assert_same_files(tmp_path / "weights" / "tiny-a", published / "tiny-a")


def test_no_base_url_anywhere_is_a_clear_error(runner, manifest_file: Path) -> None:
    result = _download(runner, manifest_file, "tiny-a")
    assert result.exit_code == 2
    assert MIRROR_ENV in _error_line(result)


def test_unsupported_scheme_is_refused(runner, manifest_file: Path) -> None:
    result = _download(runner, manifest_file, "tiny-a", "--base-url", "ftp://example.org/")
    assert result.exit_code == 2
    assert "unsupported URL scheme 'ftp'" in _error_line(result)


def test_dir_option_and_weights_variable(
    runner, published: Path, manifest_file: Path, server: str, tmp_path: Path, monkeypatch
) -> None:
    target = tmp_path / "scratch" / "models"
    result = _download(runner, manifest_file, "tiny-a", "--base-url", server, "--dir", str(target))
    assert result.exit_code == 0, result.output
    _assert_same_files(target / "tiny-a", published / "tiny-a")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "env-weights"))
    result = _download(runner, manifest_file, "tiny-a", "--base-url", server)
    assert result.exit_code == 0, result.output
    _assert_same_files(tmp_path / "env-weights" / "tiny-a", published / "tiny-a")
    assert not (tmp_path / "weights").exists()


def test_differing_local_model_is_kept_unless_forced(
    runner, published: Path, manifest_file: Path, server: str, tmp_path: Path
) -> None:
    mine = save_model(create_lens_finder("small_cnn", seed=7), tmp_path / "weights" / "tiny-a")
    before = sha256_file(mine / "model.safetensors")
    result = _download(runner, manifest_file, "tiny-a", "--base-url", server)
    assert result.exit_code == 2
    assert "already exists but differs" in _error_line(result)
    assert sha256_file(mine / "model.safetensors") == before
    forced = _download(runner, manifest_file, "tiny-a", "--base-url", server, "--force")
    assert forced.exit_code == 0, forced.output
    _assert_same_files(mine, published / "tiny-a")


def test_card_that_does_not_match_the_weights_is_refused(published: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed" / "tiny-a"
    mixed.mkdir(parents=True)
    shutil.copy(published / "tiny-a" / "model.safetensors", mixed)
    shutil.copy(published / "tiny-b" / "model.json", mixed)
    manifest = build_manifest(mixed.parent)
    with pytest.raises(UserError, match=r"weights_sha256 .* does not match model\.safetensors"):
        download_model("tiny-a", manifest=manifest, base_url=str(mixed.parent))
    _assert_nothing_left(tmp_path / "weights")


def test_unknown_model_lists_the_known_ones(runner, manifest_file: Path) -> None:
    result = _download(runner, manifest_file, "tiny-z")
    assert result.exit_code == 2
    line = _error_line(result)
    assert "'tiny-z'" in line
    assert "known: tiny-a, tiny-b" in line


def test_empty_manifest_says_none_are_published(tmp_path: Path) -> None:
    empty = manifest_from_dict({"format": MANIFEST_FORMAT, "base_url": None, "models": []})
    with pytest.raises(UserError, match="known: none yet"):
        download_model("anything", manifest=empty)


def test_bad_timeout_is_refused(runner, manifest_file: Path) -> None:
    result = _download(runner, manifest_file, "tiny-a", "--timeout", "0")
    assert result.exit_code == 2
    assert "--timeout" in _error_line(result)


def test_download_help(runner) -> None:
    result = runner.invoke(app, ["download", "--help"])
    assert result.exit_code == 0
    for option in ("--dir", "--base-url", "--force", "--timeout", "--manifest"):
        assert option in result.output


def test_format_size() -> None:
    assert [format_size(n) for n in (None, 12, 246_748, 3_400_000, 2_500_000_000)] == [
        "-",
        "12 B",
        "247 kB",
        "3.4 MB",
        "2.50 GB",
    ]
