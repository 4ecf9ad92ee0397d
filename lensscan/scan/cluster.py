"""Where a scan's tasks run: in process, locally, on a scheduler, or in batch jobs.

The choices are this process, a local Dask cluster, an existing scheduler, or Dask workers
in jobs of a batch system through dask-jobqueue (SLURM, PBS, SGE, LSF).

Batch clusters take their settings from three places, later ones winning: dask-jobqueue's
own defaults, a dask config file in its ``jobqueue:`` YAML format (loaded through
``dask.config``, so any key dask-jobqueue documents works, ``python`` and
``job-script-prologue`` included), then the explicit settings of :class:`ClusterSpec`.

GPUs: every worker process gets one GPU. A job asking for N GPUs runs N worker processes;
each one picks its own GPU from the slot number dask appends to its name (``...-0``,
``...-1``). A local cluster on a machine with several GPUs does the same, worker k on GPU
k. A worker's threads share its GPU, so while one runs a forward pass the others read
FITS files and detect objects on the CPU.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lensscan.config import BATCH_SYSTEMS, ScanConfig, parse_adapt
from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.scan.model_cache import AUTO_DEVICES, Scorer


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run a scan's tasks (from a scan's settings, which check their values).

    Attributes:
        kind: ``local`` (a local cluster, or this process with ``workers=0``) or a batch
            system of :data:`~lensscan.config.BATCH_SYSTEMS`.
        scheduler: Address of a running scheduler; wins over ``kind``.
        workers: Local worker processes (``kind="local"``); 0 runs in this process.
        threads_per_worker: Threads per local worker; None shares the CPU cores.
        local_gpus: GPUs to give the local workers, one each (0: none).
        jobs: Batch jobs to start (each one or more worker processes).
        adapt: ``(minimum, maximum)`` jobs for adaptive scaling instead of ``jobs``.
        queue: Batch queue or partition.
        walltime: Job walltime, e.g. ``04:00:00``.
        cores: Cores per job.
        memory: Memory per job, e.g. ``32GB``.
        gpus_per_job: GPUs per job; the job then runs one worker process per GPU.
        prologue: Shell lines run in the job script before the worker starts.
        config_file: Dask config file (``jobqueue:`` YAML) with the batch settings.
        scheduler_options: Options of the scheduler dask-jobqueue starts here, e.g.
            ``{"host": "127.0.0.1"}`` or ``{"interface": "ib0"}`` (a local cluster always
            listens on the loopback interface).
    """

    kind: str | None = None
    scheduler: str | None = None
    workers: int = 1
    threads_per_worker: int | None = None
    local_gpus: int = 0
    jobs: int | None = None
    adapt: tuple[int, int] | None = None
    queue: str | None = None
    walltime: str | None = None
    cores: int | None = None
    memory: str | None = None
    gpus_per_job: int = 0
    prologue: tuple[str, ...] = ()
    config_file: str | None = None
    scheduler_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def batch_settings_given(self) -> list[str]:
        """The batch-only settings that are set, by their names in a scan's settings."""
        values = {
            "jobs": self.jobs,
            "adapt": self.adapt,
            "queue": self.queue,
            "walltime": self.walltime,
            "cores": self.cores,
            "memory": self.memory,
            "gpus_per_job": self.gpus_per_job or None,
            "job_prologue": self.prologue or None,
        }
        return [name for name, value in values.items() if value is not None]


def cluster_spec(config: ScanConfig, scorer: Scorer) -> ClusterSpec:
    """Where the scan's tasks run, from the settings and the model's device here.

    A local cluster on a machine with several GPUs gives each worker one of them, unless
    the settings name one GPU (``cuda:N``).
    """
    local_gpus = 0
    device = getattr(scorer, "device", None)
    if getattr(device, "type", None) == "cuda":
        import torch

        local_gpus = torch.cuda.device_count() if config.device in AUTO_DEVICES else 1
    return ClusterSpec(
        kind=config.cluster,
        scheduler=config.scheduler,
        workers=config.workers,
        threads_per_worker=config.threads_per_worker,
        local_gpus=local_gpus,
        jobs=config.jobs,
        adapt=parse_adapt(config.adapt),
        queue=config.queue,
        walltime=config.walltime,
        cores=config.cores,
        memory=config.memory,
        gpus_per_job=config.gpus_per_job,
        prologue=tuple(config.job_prologue),
        config_file=config.cluster_config,
    )


def read_cluster_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a dask config file (YAML, dask's own layout with a ``jobqueue:`` section).

    Raises:
        UserError: If the file is missing, not YAML, or not a mapping.
    """
    import yaml

    source = Path(path)
    try:
        loaded = yaml.safe_load(source.read_text())
    except FileNotFoundError:
        raise UserError(f"`cluster_config` {source}: no such file") from None
    except (OSError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())
        raise UserError(f"`cluster_config` {source}: cannot read YAML ({detail})") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("jobqueue", {}), dict):
        raise UserError(
            f"`cluster_config` {source}: expected dask config YAML with a 'jobqueue:' mapping"
        )
    return loaded


def _dotted(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested config to dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``.

    ``dask.config.set`` then merges key by key instead of replacing dask-jobqueue's whole
    default section.
    """
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= _dotted(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def resolve_kind(spec: ClusterSpec, loaded: Mapping[str, Any] | None) -> str:
    """The cluster kind: ``spec.kind``, else the one batch system the config file sets up.

    Raises:
        UserError: For a config file naming several batch systems without ``kind`` (the
            ``cluster`` setting).
    """
    if spec.kind is not None:
        return spec.kind
    named = sorted(set((loaded or {}).get("jobqueue", {})) & set(BATCH_SYSTEMS))
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise UserError(
            f"`cluster_config` {spec.config_file}: sets up {', '.join(named)}; "
            "choose one with `cluster`"
        )
    return "local"


def check_spec(spec: ClusterSpec, kind: str) -> None:
    """Refuse batch settings for a local cluster.

    The kind may come from the cluster config file, so this is checked here and not by
    :class:`~lensscan.config.ScanConfig`, which checks the settings' values themselves.

    Raises:
        UserError: Naming the first batch setting given.
    """
    if kind == "local" and not spec.scheduler:
        given = spec.batch_settings_given
        if given:
            raise UserError(
                f"`{given[0]}`: only for a batch `cluster` ({', '.join(BATCH_SYSTEMS)}); "
                "a local cluster takes `workers`"
            )


def gpu_directives(kind: str, gpus: int, cores: int | None, memory: str | None) -> dict[str, Any]:
    """dask-jobqueue options that request ``gpus`` GPUs per job on a batch system.

    Sites differ (generic GRES names, PBS Pro ``ngpus`` or Torque ``gpus``): these are the
    common spellings; a site that needs another sets ``job-extra-directives`` or
    ``resource-spec`` in the config file and leaves ``gpus_per_job`` out.

    Args:
        kind: The batch system.
        gpus: GPUs per job (0: nothing to add).
        cores: Cores per job, needed for PBS's select statement.
        memory: Memory per job, for PBS's select statement.
    """
    if gpus <= 0:
        return {}
    if kind == "slurm":
        return {"job_extra_directives": [f"--gres=gpu:{gpus}"]}
    if kind == "pbs":
        import dask.config

        cores = cores or dask.config.get("jobqueue.pbs.cores")
        memory = memory or dask.config.get("jobqueue.pbs.memory")
        select = f"select=1:ncpus={cores}:ngpus={gpus}"
        return {"resource_spec": f"{select}:mem={memory}" if memory else select}
    if kind == "sge":
        return {"job_extra_directives": [f"-l gpu={gpus}"]}
    return {"job_extra_directives": [f'-gpu "num={gpus}"']}


def jobqueue_options(spec: ClusterSpec, kind: str) -> dict[str, Any]:
    """Keyword arguments of the dask-jobqueue cluster class (only the settings given).

    Settings left unset are not passed, so the config file's (or dask-jobqueue's)
    values apply. Options that add job directives are appended to the config file's.
    """
    import dask.config

    options: dict[str, Any] = {
        key: value
        for key, value in {
            "queue": spec.queue,
            "walltime": spec.walltime,
            "cores": spec.cores,
            "memory": spec.memory,
        }.items()
        if value is not None
    }
    if spec.prologue:
        configured = dask.config.get(f"jobqueue.{kind}.job-script-prologue", None) or []
        options["job_script_prologue"] = [*configured, *spec.prologue]
    if spec.gpus_per_job:
        # One worker process per GPU (each picks its own, see lensscan.scan.gpu_slot).
        options["processes"] = spec.gpus_per_job
        for key, value in gpu_directives(kind, spec.gpus_per_job, spec.cores, spec.memory).items():
            if key == "job_extra_directives":
                configured = dask.config.get(f"jobqueue.{kind}.job-extra-directives", None) or []
                value = [*configured, *value]
            options[key] = value
    if spec.scheduler_options:
        options["scheduler_options"] = dict(spec.scheduler_options)
    return options


@contextlib.contextmanager
def cluster_config(spec: ClusterSpec) -> Iterator[dict[str, Any] | None]:
    """Apply the config file (if any) to ``dask.config`` while the cluster lives.

    Yields:
        The file's content, or None without a file.
    """
    import dask.config

    if spec.config_file is None:
        yield None
        return
    loaded = read_cluster_config(spec.config_file)
    with dask.config.set(_dotted(loaded)):
        yield loaded


def make_batch_cluster(spec: ClusterSpec, kind: str) -> Any:
    """Start a dask-jobqueue cluster's scheduler here (no job is submitted yet).

    Call inside :func:`cluster_config` so the config file applies.

    Raises:
        UserError: If dask-jobqueue is missing or refuses the settings.
    """
    try:
        import dask_jobqueue
    except ImportError:
        raise UserError(
            f"`cluster` {kind}: needs dask-jobqueue (pip install dask-jobqueue)"
        ) from None
    cls = getattr(dask_jobqueue, BATCH_SYSTEMS[kind])
    try:
        return cls(**jobqueue_options(spec, kind))
    except (ValueError, TypeError, KeyError) as exc:
        detail = " ".join(str(exc).split())
        raise UserError(
            f"`cluster` {kind}: dask-jobqueue refused the settings ({detail})"
        ) from None


def validate(spec: ClusterSpec) -> None:
    """Check the settings (and read the config file) before any work starts.

    Raises:
        UserError: For the first setting that is wrong.
    """
    with cluster_config(spec) as loaded:
        check_spec(spec, resolve_kind(spec, loaded))


@contextlib.contextmanager
def connect(spec: ClusterSpec) -> Iterator[Any]:
    """Connect to or start the cluster a scan runs on, and close what was started.

    Args:
        spec: Where to run.

    Yields:
        A ``distributed.Client``, or None to run in this process.

    Raises:
        UserError: If the scheduler cannot be reached or the settings are invalid.
    """
    with cluster_config(spec) as loaded:
        kind = resolve_kind(spec, loaded)
        check_spec(spec, kind)
        if spec.scheduler:
            with _existing(spec.scheduler) as client:
                yield client
        elif kind == "local":
            with _local(spec) as client:
                yield client
        else:
            with _batch(spec, kind) as client:
                yield client


@contextlib.contextmanager
def _existing(address: str) -> Iterator[Any]:
    from distributed import Client

    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"`scheduler` {address}: cannot connect ({exc})") from None
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def _sigint_ignored_by_children() -> Iterator[None]:
    """Start worker processes that ignore SIGINT, then restore this process's handler.

    Ctrl-C reaches every process of the terminal's group. Only this process should act on
    it (stop, close the cluster, say how to resume); workers that raise KeyboardInterrupt
    print tracebacks. A spawned Python keeps an ignored SIGINT ignored, so the workers
    started inside the block never see it. Outside the main thread (a notebook's worker
    thread) signal handlers cannot be changed, and nothing is done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _local(spec: ClusterSpec) -> Iterator[Any]:
    if spec.workers == 0:
        yield None
        return
    threads = spec.threads_per_worker or max(1, (os.cpu_count() or 1) // spec.workers)
    from distributed import Client, LocalCluster

    gpus = spec.local_gpus
    logger.info(
        "starting a local Dask cluster: %d worker(s) x %d thread(s)%s",
        spec.workers,
        threads,
        f", one of {gpus} GPUs each" if gpus else "",
    )
    with _sigint_ignored_by_children():
        cluster = LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=None,
            # Without a dashboard the scheduler still serves HTTP (health, metrics) on
            # the dashboard's default port, 8787, which a second scan or any other Dask
            # program may hold: bind a free local port instead.
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        )
    with cluster, Client(cluster) as client:
        from lensscan.scan.quiet_cancel import QuietCancel

        client.register_plugin(QuietCancel())
        if gpus > 1:
            from lensscan.scan.gpu_slot import GpuSlot

            client.register_plugin(GpuSlot(gpus))
        yield client


@contextlib.contextmanager
def _batch(spec: ClusterSpec, kind: str) -> Iterator[Any]:
    from distributed import Client

    cluster = make_batch_cluster(spec, kind)
    try:
        logger.info(
            "dask-jobqueue %s cluster at %s; job script:\n%s",
            kind,
            cluster.scheduler_address,
            cluster.job_script(),
        )
        if spec.adapt is not None:
            cluster.adapt(minimum_jobs=spec.adapt[0], maximum_jobs=spec.adapt[1])
        else:
            cluster.scale(jobs=spec.jobs or 1)
        with Client(cluster) as client:
            if spec.gpus_per_job > 1:
                from lensscan.scan.gpu_slot import GpuSlot

                client.register_plugin(GpuSlot(spec.gpus_per_job))
            yield client
    finally:
        cluster.close()
