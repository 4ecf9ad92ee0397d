"""The container and cluster files under Dockerfile and docs/hpc/ stay consistent with the code.

No image is built here: the checks read the files (build arguments, user, healthcheck, the
files they copy) and run what can run without Docker, Apptainer or SLURM.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import typer

from lensscan.cli import app
from lensscan.scan.cluster import cluster_config, make_batch_cluster
from lensscan.scan.settings import ClusterSettings

ROOT = Path(__file__).resolve().parents[1]
HPC = ROOT / "docs" / "hpc"


def _scan_options() -> set[str]:
    command = typer.main.get_command(app).commands["scan"]
    return {name for param in command.params for name in param.opts if name.startswith("--")}


def test_dockerfile_builds_a_non_root_image_with_weights_and_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG TORCH_INDEX=https://download\.pytorch\.org/whl/cpu$", text, re.M)
    assert '--index-url "${TORCH_INDEX}" torch torchvision' in text
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    for source in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / source).exists(), source
    assert "COPY weights weights" in text
    [health] = re.findall(r"^HEALTHCHECK .*\n\s+CMD (\[.*\])$", text, re.M)
    # The healthcheck's command runs here as it would in the image.
    command = json.loads(health)
    assert command[0] == "python"
    subprocess.run([sys.executable, *command[1:]], check=True, cwd=ROOT, timeout=120)


def test_apptainer_definition_copies_existing_files_and_declares_its_argument() -> None:
    text = (HPC / "lensscan.def").read_text()
    assert re.search(r"^Bootstrap: docker$", text, re.M)
    sections = dict(re.findall(r"^%(\w+)\n((?:(?!^%).*\n)*)", text, re.M))
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cpu" in sections["arguments"]
    assert '--index-url "{{ TORCH_INDEX }}"' in sections["post"]
    copied = [line.split()[0] for line in sections["files"].splitlines() if line.strip()]
    assert "weights" in copied
    for source in copied:
        assert (ROOT / source).exists(), source


def test_slurm_job_script_is_valid_bash_and_uses_real_scan_options() -> None:
    script = HPC / "scan.slurm"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "#SBATCH --gres=gpu:" in text and "apptainer exec --nv" in text
    command = text[text.index("lensscan scan") :].replace("\\\n", " ")
    used = {word for word in shlex.split(command) if word.startswith("--")}
    assert used and used <= _scan_options(), used - _scan_options()


def test_jobqueue_example_makes_a_gpu_job_that_runs_the_image() -> None:
    settings = ClusterSettings(config_file=str(HPC / "jobqueue.yaml"), gpus_per_job=1)
    with cluster_config(settings):
        loopback = {"host": "127.0.0.1", "dashboard_address": None}
        cluster = make_batch_cluster(settings, "slurm", scheduler_options=loopback)
        try:
            assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
            script = cluster.job_script()
        finally:
            cluster.close()
    lines = script.splitlines()
    assert "#SBATCH -p gpu" in lines and "#SBATCH --gres=gpu:1" in lines
    assert "module load apptainer" in lines
    worker = next(line for line in lines if "dask_worker" in line)
    assert worker.startswith("apptainer exec --nv /shared/containers/lensscan.sif python -m")
    example = (HPC / "jobqueue.yaml").read_text()
    used = set(re.findall(r"(--[a-z-]+)", example.split("jobqueue:")[0]))
    assert used - {"--gres"} <= _scan_options()
