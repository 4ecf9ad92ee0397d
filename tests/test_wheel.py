"""A wheel (``pip install .``, not editable) carries the shipped models and scores with them.

The wheel is built from this checkout and installed into a fresh virtual environment that
sees the current environment's packages (torch, astropy ...) through a path file, so
nothing is downloaded; the editable lensscan of the current environment stays out of it.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from lensscan.models.manifest import load_manifest
from lensscan.models.weights import DEFAULT_MODEL

pytest.importorskip("hatchling", reason="building the wheel needs hatchling (pip install .[dev])")

SCORE_DEFAULT = """
import json, sys
import numpy as np
import lensscan
from lensscan.models import load_model

finder = load_model()
images = np.random.default_rng(0).normal(size=(4, len(finder.bands), 64, 64))
scores = finder.score(images.astype("float32"))
json.dump({"module": lensscan.__file__, "name": finder.name,
           "scores": [float(s) for s in scores]}, sys.stdout)
"""


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A virtual environment with the wheel installed, and the environment to run it in."""
    root = tmp_path_factory.mktemp("wheel")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "LENSSCAN_WEIGHTS", "LENSSCAN_MIRROR"}
    }
    env["OMP_NUM_THREADS"] = "1"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    # The build runs with the caller's environment, which is where hatchling is found.
    _run([*build, "--quiet", str(REPO_ROOT), "-w", str(root / "dist")], root, dict(os.environ))
    (wheel,) = (root / "dist").glob("lensscan-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env)
    python = venv / "bin" / "python"
    purelib = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            root,
            env,
        ).strip()
    )
    # Plain paths, not site folders: their .pth files (the editable install's) are not run.
    outer = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], site.getusersitepackages()]
    (purelib / "outer-environment.pth").write_text("\n".join(dict.fromkeys(outer)) + "\n")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    _run([*pip, "--ignore-installed", str(wheel)], root, env)
    return venv, env


def test_wheel_finds_the_shipped_models_and_scores_with_the_default(
    wheel_venv: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    venv, env = wheel_venv
    report = json.loads(
        _run([str(venv / "bin" / "lensscan"), "models", "list", "--json"], tmp_path, env)
    )
    published = {row["name"]: row for row in report["models"] if row["published"]}
    assert set(published) == set(load_manifest().models)
    for row in published.values():
        assert row["state"] == "installed", row
        assert Path(row["path"]).parent.name == "_weights"
        assert Path(row["path"]).is_relative_to(venv)
    scored = json.loads(_run([str(venv / "bin" / "python"), "-c", SCORE_DEFAULT], tmp_path, env))
    assert Path(scored["module"]).is_relative_to(venv)
    assert scored["name"] == DEFAULT_MODEL
    assert len(scored["scores"]) == 4
    assert all(0.0 <= s <= 1.0 for s in scored["scores"])


def test_wheel_downloads_a_shipped_model_offline(
    wheel_venv: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    venv, env = wheel_venv
    lensscan = str(venv / "bin" / "lensscan")
    _run([lensscan, "download", "hsc-i-v2", "--dir", "copies"], tmp_path, env)
    copied = tmp_path / "copies" / "hsc-i-v2"
    shipped = next(venv.rglob("_weights")) / "hsc-i-v2"
    for name in ("model.json", "model.safetensors"):
        assert (copied / name).read_bytes() == (shipped / name).read_bytes()
    failed = subprocess.run(
        [lensscan, "download", "hsc-i-v2", "--dir", "elsewhere", "--base-url", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert failed.returncode == 2
    assert failed.stderr.count("lensscan: error:") == 1
    assert not (tmp_path / "elsewhere").exists()
