"""Two graders grade at once while their servers are killed and restarted: no acknowledged
grade is lost. Real ``lensscan inspect`` processes on 127.0.0.1, HTTP from the standard library.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from inspect_helpers import make_scanned_field

from lensscan.inspect.candidates import read_candidate_catalog
from lensscan.inspect.export import export_grades
from lensscan.inspect.session import open_bound_db

REPO_ROOT = Path(__file__).resolve().parents[1]
N_CANDIDATES = 24
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 5.0
MAX_TRIES = 300
RETRY_S = 0.05
GRADER_PAUSE_S = 0.02


class Server:
    """One ``lensscan inspect`` process for one grader, restartable on the same port."""

    def __init__(self, catalog: Path, db: Path, grader: str) -> None:
        self.args = [sys.executable, "-m", "lensscan", "inspect", str(catalog)]
        self.args += ["--db", str(db), "--grader", grader]
        self.port = 0
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [*self.args, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            found = re.search(r"open http://127\.0\.0\.1:(\d+)/", line)
            if found:
                self.port = int(found.group(1))
                return
            if not line and self.process.poll() is not None:
                break
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process.stdout.close()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process.stdout.close()


def _request(port: int, method: str, path: str, body: dict | None = None, token: str = ""):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        headers = {"Content-Type": "application/json", "X-Lensscan-Token": token}
        connection.request(method, path, json.dumps(body) if body else None, headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _token(port: int) -> str:
    status, page = _request(port, "GET", "/candidate/1")
    assert status == 200
    return re.search(r'name="lensscan-token" content="([^"]+)"', page).group(1)


def _grade_all(server: Server, grader: str, acknowledged: dict, progress: dict) -> None:
    """Grade every candidate once, retrying (same request id) while the server is down."""
    token = ""
    for rank in range(1, N_CANDIDATES + 1):
        grade = (rank + len(grader)) % 4
        body = {"rank": rank, "grade": grade, "request_id": f"{grader}-{rank}"}
        for _ in range(MAX_TRIES):
            try:
                token = token or _token(server.port)
                status, answer = _request(server.port, "POST", "/api/grade", body, token)
            except OSError:  # refused or reset while the server is down
                progress[f"{grader} retries"] = progress.get(f"{grader} retries", 0) + 1
                time.sleep(RETRY_S)
                continue
            if status == 403:  # a restarted server has a new session token: reload it
                token = ""
                continue
            assert status == 200, answer
            assert json.loads(answer)["grade"] == grade
            acknowledged[(grader, rank)] = grade
            progress[grader] = rank
            time.sleep(GRADER_PAUSE_S)
            break
        else:
            raise AssertionError(f"{grader}: rank {rank} never acknowledged")


def _kill_and_restart(server: Server, grader: str, ranks: tuple[int, ...], progress: dict) -> None:
    for rank in ranks:
        deadline = time.monotonic() + START_TIMEOUT_S
        while progress[grader] < rank and time.monotonic() < deadline:
            time.sleep(0.002)
        server.kill()  # mid-stream: the grader's next request finds no server
        server.start()


def test_killed_servers_lose_no_acknowledged_grade(tmp_path: Path) -> None:
    field = make_scanned_field(tmp_path / "field", n_objects=N_CANDIDATES)
    db = tmp_path / "grades.sqlite"
    servers = {name: Server(field.catalog, db, name) for name in ("ann", "bob")}
    acknowledged: dict[tuple[str, int], int] = {}
    progress = {name: 0 for name in servers}
    try:
        for server in servers.values():
            server.start()
        clients = [
            threading.Thread(target=_grade_all, args=(server, name, acknowledged, progress))
            for name, server in servers.items()
        ]
        for client in clients:
            client.start()
        killers = [
            threading.Thread(target=_kill_and_restart, args=(servers[name], name, at, progress))
            for name, at in (("ann", (6, 16)), ("bob", (10,)))
        ]
        for killer in killers:
            killer.start()
        for killer in killers:
            killer.join(timeout=120)
        for client in clients:
            client.join(timeout=120)
        assert not any(client.is_alive() for client in clients)
    finally:
        for server in servers.values():
            server.stop()
    assert len(acknowledged) == 2 * N_CANDIDATES
    assert progress["ann retries"] > 0 and progress["bob retries"] > 0  # the kills hit them
    catalog = read_candidate_catalog(field.catalog)
    with open_bound_db(catalog, db, create=False) as database:
        result = export_grades(catalog, database, tmp_path / "graded.ecsv")
        assert database.history_length() == 2 * N_CANDIDATES  # retries recorded once
    from astropy.table import Table

    table = Table.read(result.catalog)
    for (grader, rank), grade in acknowledged.items():
        assert int(table[f"grade_{grader}"][rank - 1]) == grade, (grader, rank)
    assert list(table["n_graders"]) == [2] * N_CANDIDATES


pytestmark = pytest.mark.timeout(180)
