"""An interrupted ``lensscan simulate`` leaves no temporary store, however the signal arrives.

The run is a real subprocess with two worker processes, interrupted once its temporary
store holds a first chunk: by a SIGINT to its main process alone (``kill -INT PID``) or to
its whole process group (Ctrl-C in a terminal), or by a SIGTERM to its main process (what
a batch system sends at a job's time limit, and ``kill``'s default).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT

#: Seconds after the run exits in which a worker still writing would recreate its store.
GRACE_S = 2.0


def _first_chunk_written(folder: Path) -> bool:
    return any(path.is_file() for tmp in folder.glob(".s.zarr.tmp-*") for path in tmp.rglob("c/*"))


@pytest.mark.parametrize(
    ("target", "signum"),
    [
        ("main process", signal.SIGINT),
        ("process group", signal.SIGINT),
        ("main process", signal.SIGTERM),
    ],
)
def test_an_interrupt_while_simulating_leaves_no_temporary_store(
    tmp_path: Path, target: str, signum: int
) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "lensscan", "simulate", "--domain", "sim"]
    command += ["--n", "1024", "--workers", "2", "--out", "s.zarr"]
    run = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _first_chunk_written(tmp_path):
            assert run.poll() is None, run.communicate()[1]
            assert time.monotonic() < deadline, "no chunk written in 120 s"
            time.sleep(0.05)
        if target == "main process":
            run.send_signal(signum)
        else:
            os.killpg(run.pid, signum)
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode != 0
    time.sleep(GRACE_S)
    assert list(tmp_path.iterdir()) == [], stderr
