"""Cluster construction (dask-jobqueue job scripts, config files) and task retries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from lensscan.errors import UserError
from lensscan.scan.cluster import (
    check_settings,
    cluster_config,
    make_batch_cluster,
    resolve_kind,
)
from lensscan.scan.runner import run_on_dask
from lensscan.scan.settings import ClusterSettings

LOOPBACK = {"host": "127.0.0.1", "dashboard_address": None}


def _job_script(settings: ClusterSettings, kind: str) -> str:
    with cluster_config(settings):
        cluster = make_batch_cluster(settings, kind, scheduler_options=LOOPBACK)
        try:
            assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
            return cluster.job_script()
        finally:
            cluster.close()


def test_slurm_job_script_asks_for_the_resources() -> None:
    settings = ClusterSettings(
        kind="slurm",
        queue="gpu",
        walltime="04:00:00",
        cores=8,
        memory="32GB",
        gpus_per_job=2,
        job_prologue=("module load cuda", "export LENSSCAN_WEIGHTS=/shared/weights"),
    )
    script = _job_script(settings, "slurm")
    lines = script.splitlines()
    assert "#SBATCH -p gpu" in lines
    assert "#SBATCH -t 04:00:00" in lines
    assert "#SBATCH --cpus-per-task=8" in lines
    assert "#SBATCH --mem=30G" in lines  # dask-jobqueue writes 32 GB as 30 GiB
    assert "#SBATCH --gres=gpu:2" in lines
    prologue = lines.index("module load cuda")
    assert lines[prologue + 1] == "export LENSSCAN_WEIGHTS=/shared/weights"
    worker = next(line for line in lines if "dask_worker" in line)
    assert lines.index(worker) > prologue
    assert "tcp://127.0.0.1:" in worker
    assert "--nworkers 2" in worker  # one worker process per GPU
    assert "--nthreads 4" in worker


def test_pbs_job_script_asks_for_the_resources() -> None:
    settings = ClusterSettings(
        kind="pbs",
        queue="workq",
        walltime="02:00:00",
        cores=4,
        memory="16GB",
        gpus_per_job=1,
        job_prologue=("module load apptainer",),
    )
    lines = _job_script(settings, "pbs").splitlines()
    assert "#PBS -q workq" in lines
    assert "#PBS -l walltime=02:00:00" in lines
    assert "#PBS -l select=1:ncpus=4:ngpus=1:mem=16GB" in lines
    assert "module load apptainer" in lines
    worker = next(line for line in lines if "dask_worker" in line)
    assert "tcp://127.0.0.1:" in worker and "--nthreads 4" in worker


def test_cpu_jobs_ask_for_no_gpu() -> None:
    settings = ClusterSettings(kind="slurm", cores=2, memory="4GB")
    script = _job_script(settings, "slurm")
    assert "gres" not in script and "ngpus" not in script


def test_config_file_in_dask_jobqueue_yaml_and_options_on_top(tmp_path: Path) -> None:
    config = tmp_path / "jobqueue.yaml"
    config.write_text(
        "jobqueue:\n"
        "  slurm:\n"
        "    queue: long\n"
        "    cores: 16\n"
        "    memory: 64GB\n"
        "    walltime: '12:00:00'\n"
        "    account: astro42\n"
        "    job-script-prologue: ['module load apptainer']\n"
    )
    settings = ClusterSettings(
        walltime="01:00:00",
        job_prologue=("echo started",),
        config_file=str(config),
    )
    with cluster_config(settings) as loaded:
        assert resolve_kind(settings, loaded) == "slurm"  # the one batch system the file names
    lines = _job_script(settings, "slurm").splitlines()
    assert "#SBATCH -p long" in lines and "#SBATCH -A astro42" in lines
    assert "#SBATCH --cpus-per-task=16" in lines
    assert "#SBATCH -t 01:00:00" in lines  # the option wins over the file
    assert lines.index("module load apptainer") < lines.index("echo started")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ClusterSettings(kind="local", jobs=2), "`jobs`: only for a batch `cluster`"),
        (ClusterSettings(kind="local", queue="gpu"), "`queue`: only for a batch `cluster`"),
    ],
)
def test_batch_settings_for_a_local_cluster_are_refused(
    settings: ClusterSettings, message: str
) -> None:
    # The values themselves are checked by ClusterSettings (tests/test_config.py).
    with pytest.raises(UserError, match="^" + message):
        check_settings(settings, resolve_kind(settings, None))


def test_bad_cluster_config_files(tmp_path: Path) -> None:
    with (
        pytest.raises(UserError, match="no such file"),
        cluster_config(ClusterSettings(config_file=str(tmp_path / "missing.yaml"))),
    ):
        pass
    (tmp_path / "bad.yaml").write_text("jobqueue: [1, 2]\n")
    with (
        pytest.raises(UserError, match="expected dask config YAML"),
        cluster_config(ClusterSettings(config_file=str(tmp_path / "bad.yaml"))),
    ):
        pass
    two = tmp_path / "two.yaml"
    two.write_text("jobqueue:\n  slurm: {cores: 2}\n  pbs: {cores: 2}\n")
    with pytest.raises(UserError, match="sets up pbs, slurm; choose one with `cluster`"):
        resolve_kind(ClusterSettings(config_file=str(two)), {"jobqueue": {"slurm": {}, "pbs": {}}})


def test_gpu_slot_of_a_worker_name() -> None:
    from lensscan.scan.gpu_slot import worker_slot
    from lensscan.scan.model_cache import process_device, set_process_device

    assert worker_slot(3) == 3  # a local cluster's worker
    assert worker_slot("SLURMCluster-12-1") == 1  # the second process of a job
    assert worker_slot("tcp://host") is None
    assert process_device("cuda:1") == "cuda:1"
    set_process_device("cuda:1")
    try:
        assert process_device(None) == process_device("cuda") == "cuda:1"
        assert process_device("cpu") == "cpu" and process_device("cuda:0") == "cuda:0"
    finally:
        from lensscan.scan import model_cache

        model_cache._PROCESS_DEVICE.clear()


@dataclass(frozen=True)
class FlakyJob:
    """A two-chunk job whose chunk 0 fails once, then succeeds (markers on disk).

    ``how="raise"`` raises an OSError the first time; ``how="die"`` kills its worker process.
    """

    folder: str
    how: str
    n_chunks: int = 2

    def stage(self, index: int) -> int:
        marker = Path(self.folder) / f"failed-once-{index}"
        if index == 0 and not marker.exists():
            marker.touch()
            if self.how == "die":
                os._exit(1)
            raise OSError("transient read error")
        return index

    def prepare(self, index: int) -> None:
        return None

    def score(self, index: int, prepared: None = None) -> int:
        (Path(self.folder) / f"done-{index}").touch()
        return index


def test_a_task_that_raised_is_retried(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    job = FlakyJob(str(tmp_path), "raise")
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        assert list(run_on_dask(client, [job], {0: [0, 1]}, retries=1)) == [(0, None)]
        (tmp_path / "failed-once-0").unlink()
        [(field, error)] = run_on_dask(client, [job], {0: [0, 1]}, retries=0)
    assert field == 0 and isinstance(error, OSError)
    assert (tmp_path / "done-0").exists() and (tmp_path / "done-1").exists()


def test_a_field_whose_worker_died_is_finished_on_a_new_worker(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    job = FlakyJob(str(tmp_path), "die")
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        outcomes = list(run_on_dask(client, [job], {0: [0, 1]}, retries=0))
    assert outcomes == [(0, None)]
    assert (tmp_path / "failed-once-0").exists()  # the first worker died on it
    assert (tmp_path / "done-0").exists() and (tmp_path / "done-1").exists()


FAKE_SBATCH = """#!/bin/bash
# Stands for SLURM's sbatch on one machine: runs the job script in the background.
set -euo pipefail
id=$(( $(ls "$JOBS" | wc -l) + 1000 ))
cp "$1" "$JOBS/$id.sh"
setsid bash "$JOBS/$id.sh" > "$JOBS/$id.log" 2>&1 < /dev/null &
echo $! > "$JOBS/$id.pid"
echo "Submitted batch job $id"
"""

FAKE_SCANCEL = """#!/bin/bash
# Stands for scancel: ends the job's process group.
for id in "$@"; do kill -- "-$(cat "$JOBS/$id.pid")" 2>/dev/null || true; done
"""


def test_cli_scan_through_cluster_slurm_with_a_stand_in_sbatch(
    tmp_path: Path, runner, monkeypatch
) -> None:
    import numpy as np
    from astropy.table import Table
    from scan_helpers import tan_wcs, write_plain

    from lensscan.cli import app
    from lensscan.models import create_lens_finder, save_model

    bin_dir, jobs = tmp_path / "bin", tmp_path / "jobs"
    bin_dir.mkdir()
    jobs.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("scancel", FAKE_SCANCEL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("JOBS", str(jobs))
    config = tmp_path / "jobqueue.yaml"
    config.write_text(
        "jobqueue:\n"
        "  slurm:\n"
        "    cores: 1\n"
        "    processes: 1\n"
        "    memory: 2GB\n"
        "    scheduler-options: {host: 127.0.0.1, dashboard_address: null}\n"
        f"    local-directory: {tmp_path / 'worker-space'}\n"
    )
    model = save_model(
        create_lens_finder(bands=("i",), input_size=32, widths=(4, 4, 4, 4)),
        tmp_path / "tiny-i",
        name="tiny-i",
    )
    fields = [
        write_plain(
            tmp_path / f"f{k}.fits",
            np.random.default_rng(k).normal(size=(70, 70)),
            tan_wcs((70, 70), ra=150.0 + k),
            FILTER="i",
        )
        for k in (1, 2)
    ]
    result = runner.invoke(
        app,
        [
            "scan",
            *map(str, fields),
            "--cluster",
            "slurm",
            "--cluster-config",
            str(config),
            "--walltime",
            "00:10:00",
            "--jobs",
            "1",
            "--model",
            str(model),
            "--mode",
            "grid",
            "--threshold",
            "0",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "cats"),
        ],
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    [script] = jobs.glob("*.sh")
    text = script.read_text()
    assert "#SBATCH -t 00:10:00" in text and "tcp://127.0.0.1:" in text
    for k in (1, 2):
        assert len(Table.read(tmp_path / "cats" / f"f{k}.ecsv")) > 0
    assert "2 of 2 fields done (2 scanned" in result.stdout
    assert (tmp_path / "cats" / "combined.ecsv").exists()
