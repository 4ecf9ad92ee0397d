"""Where a scan's tasks run: in process, locally, on a scheduler, or in batch jobs.

The choices are this process, a local Dask cluster, an existing scheduler, or Dask workers
in jobs of a batch system through dask-jobqueue (SLURM, PBS, SGE, LSF).

Batch clusters take their settings from three places, later ones winning: dask-jobqueue's
own defaults, a dask config file in its ``jobqueue:`` YAML format (loaded through
``dask.config``, so any key dask-jobqueue documents works, ``python`` and
``job-script-prologue`` included), then the scan's own settings
(:class:`~lensscan.scan.settings.ClusterSettings`).

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
from pathlib import Path
from typing import Any

from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.scan.model_cache import AUTO_DEVICES, Scorer
from lensscan.scan.settings import BATCH_SYSTEMS, ClusterSettings


def local_gpus(device: str | None, scorer: Scorer) -> int:
    """GPUs a local cluster gives its workers, one each: the model's device here decides.

    Every GPU of the machine when the model is on CUDA and ``device`` names none of them
    (``None``, ``auto``, ``cuda``); one when it names one (``cuda:N``); none on the CPU.
    """
    model_device = getattr(scorer, "device", None)
    if getattr(model_device, "type", None) != "cuda":
        return 0
    import torch

    return torch.cuda.device_count() if device in AUTO_DEVICES else 1


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


def resolve_kind(settings: ClusterSettings, loaded: Mapping[str, Any] | None) -> str:
    """The cluster kind: ``settings.kind``, else the one batch system the file sets up.

    Raises:
        UserError: For a config file naming several batch systems without ``kind`` (the
            ``cluster`` setting).
    """
    if settings.kind is not None:
        return settings.kind
    named = sorted(set((loaded or {}).get("jobqueue", {})) & set(BATCH_SYSTEMS))
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise UserError(
            f"`cluster_config` {settings.config_file}: sets up {', '.join(named)}; "
            "choose one with `cluster`"
        )
    return "local"


def check_settings(settings: ClusterSettings, kind: str) -> None:
    """Refuse batch settings for a local cluster.

    The kind may come from the cluster config file, so this is checked here and not by
    :class:`~lensscan.scan.settings.ClusterSettings`, which checks the values themselves.

    Raises:
        UserError: Naming the first batch setting given.
    """
    if kind == "local" and not settings.scheduler:
        given = settings.batch_settings_given
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


def jobqueue_options(
    settings: ClusterSettings, kind: str, scheduler_options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Keyword arguments of the dask-jobqueue cluster class (only the settings given).

    Settings left unset are not passed, so the config file's (or dask-jobqueue's)
    values apply. Options that add job directives are appended to the config file's.

    Args:
        settings: The scan's cluster settings.
        kind: The batch system.
        scheduler_options: Options of the scheduler dask-jobqueue starts here, e.g.
            ``{"host": "127.0.0.1"}`` (default: the config file's, else dask-jobqueue's).
    """
    import dask.config

    options: dict[str, Any] = {
        key: value
        for key, value in {
            "queue": settings.queue,
            "walltime": settings.walltime,
            "cores": settings.cores,
            "memory": settings.memory,
        }.items()
        if value is not None
    }
    if settings.job_prologue:
        configured = dask.config.get(f"jobqueue.{kind}.job-script-prologue", None) or []
        options["job_script_prologue"] = [*configured, *settings.job_prologue]
    gpus = settings.gpus_per_job
    if gpus:
        # One worker process per GPU (each picks its own, see lensscan.scan.gpu_slot).
        options["processes"] = gpus
        for key, value in gpu_directives(kind, gpus, settings.cores, settings.memory).items():
            if key == "job_extra_directives":
                configured = dask.config.get(f"jobqueue.{kind}.job-extra-directives", None) or []
                value = [*configured, *value]
            options[key] = value
    if scheduler_options:
        options["scheduler_options"] = dict(scheduler_options)
    return options


@contextlib.contextmanager
def cluster_config(settings: ClusterSettings) -> Iterator[dict[str, Any] | None]:
    """Apply the config file (if any) to ``dask.config`` while the cluster lives.

    Yields:
        The file's content, or None without a file.
    """
    import dask.config

    if settings.config_file is None:
        yield None
        return
    loaded = read_cluster_config(settings.config_file)
    with dask.config.set(_dotted(loaded)):
        yield loaded


def make_batch_cluster(
    settings: ClusterSettings, kind: str, scheduler_options: Mapping[str, Any] | None = None
) -> Any:
    """Start a dask-jobqueue cluster's scheduler here (no job is submitted yet).

    Call inside :func:`cluster_config` so the config file applies.

    Args:
        settings: The scan's cluster settings.
        kind: The batch system.
        scheduler_options: Options of the scheduler (see :func:`jobqueue_options`).

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
        return cls(**jobqueue_options(settings, kind, scheduler_options))
    except (ValueError, TypeError, KeyError) as exc:
        detail = " ".join(str(exc).split())
        raise UserError(
            f"`cluster` {kind}: dask-jobqueue refused the settings ({detail})"
        ) from None


def validate(settings: ClusterSettings) -> None:
    """Check the settings (and read the config file) before any work starts.

    Raises:
        UserError: For the first setting that is wrong.
    """
    with cluster_config(settings) as loaded:
        check_settings(settings, resolve_kind(settings, loaded))


@contextlib.contextmanager
def connect(settings: ClusterSettings, gpus: int = 0) -> Iterator[Any]:
    """Connect to or start the cluster a scan runs on, and close what was started.

    Args:
        settings: Where to run.
        gpus: GPUs of this machine a local cluster gives its workers, one each
            (:func:`local_gpus`).

    Yields:
        A ``distributed.Client``, or None to run in this process.

    Raises:
        UserError: If the scheduler cannot be reached or the settings are invalid.
    """
    with cluster_config(settings) as loaded:
        kind = resolve_kind(settings, loaded)
        check_settings(settings, kind)
        if settings.scheduler:
            with _existing(settings.scheduler) as client:
                yield client
        elif kind == "local":
            with _local(settings, gpus) as client:
                yield client
        else:
            with _batch(settings, kind) as client:
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
def _local(settings: ClusterSettings, gpus: int) -> Iterator[Any]:
    if settings.workers == 0:
        yield None
        return
    threads = settings.threads_per_worker or max(1, (os.cpu_count() or 1) // settings.workers)
    from distributed import Client, LocalCluster

    logger.info(
        "starting a local Dask cluster: %d worker(s) x %d thread(s)%s",
        settings.workers,
        threads,
        f", one of {gpus} GPUs each" if gpus else "",
    )
    with _sigint_ignored_by_children():
        cluster = LocalCluster(
            n_workers=settings.workers,
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
def _batch(settings: ClusterSettings, kind: str) -> Iterator[Any]:
    from distributed import Client

    cluster = make_batch_cluster(settings, kind)
    try:
        logger.info(
            "dask-jobqueue %s cluster at %s; job script:\n%s",
            kind,
            cluster.scheduler_address,
            cluster.job_script(),
        )
        adapt = settings.adapt_range
        if adapt is not None:
            cluster.adapt(minimum_jobs=adapt[0], maximum_jobs=adapt[1])
        else:
            cluster.scale(jobs=settings.jobs or 1)
        with Client(cluster) as client:
            if settings.gpus_per_job > 1:
                from lensscan.scan.gpu_slot import GpuSlot

                client.register_plugin(GpuSlot(settings.gpus_per_job))
            yield client
    finally:
        cluster.close()
