"""The worker processes of a run: started early, warmed up with their domain's modules."""

from __future__ import annotations

import importlib
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lensscan.simulate.domains.registry import domain_spec

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext


def warm_worker(domain_name: str) -> None:
    """Start a worker process: ignore SIGINT, import the domain's modules if not loaded yet.

    A Ctrl-C reaches the whole process group; the main process alone decides what happens
    (it lets running blocks finish before it removes their temporary store), so a worker
    neither dies mid-block nor carries on after its store is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for module in domain_spec(domain_name).modules:
        importlib.import_module(module)


_WORKER_MODULES = ("lensscan.simulate.cutouts.blocks", "dask.local", "zarr")
"""Modules every worker process runs (besides its domain's)."""


def _worker_context(domain_name: str) -> BaseContext:
    """How worker processes start: forked from a server that loaded their modules once.

    The ``forkserver`` process imports the domain's modules (building its caches) and
    :data:`_WORKER_MODULES`, about a second and a half, then forks each worker ready to
    run, where a ``spawn`` worker would do it all itself. ``spawn`` is the fallback where
    there is no forkserver.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Only heeded when the server starts (once per process): later runs reuse it.
    context.set_forkserver_preload([*domain_spec(domain_name).modules, *_WORKER_MODULES])
    return context


def _start_workers(pool: Any, workers: int) -> None:
    """Start every worker of a process pool now rather than when tasks first arrive.

    The pool starts a process per waiting task while none is idle, so one small task per
    worker starts them all. A pool that cannot start is left for the run's first task to
    report.
    """
    from concurrent.futures.process import BrokenProcessPool

    try:
        for _ in range(workers):
            pool.submit(int)
    except BrokenProcessPool:
        return


@contextmanager
def dask_config(scheduler: str, workers: int, domain_name: str) -> Iterator[None]:
    """Dask settings for the run, with a pool of warmed-up workers.

    Worker processes start at once (see :func:`_worker_context`), so that they warm up
    while the caller prepares the run; tasks are handed out one at a time so that a few
    large blocks balance across workers.
    """
    pool: Any = None
    starting = None
    if scheduler == "processes":
        import threading
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(
            workers,
            mp_context=_worker_context(domain_name),
            initializer=warm_worker,
            initargs=(domain_name,),
        )
        # From a thread, since each start waits for the forkserver to be ready.
        starting = threading.Thread(target=_start_workers, args=(pool, workers), daemon=True)
        starting.start()
    elif scheduler == "threads":
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(workers)
    import dask

    if pool is None:
        with dask.config.set(scheduler="synchronous"):
            yield
        return
    with dask.config.set(scheduler=scheduler, pool=pool, num_workers=workers, chunksize=1):
        try:
            yield
        finally:
            if starting is not None:
                starting.join()
            # After an error or a Ctrl-C, queued blocks must not start and running ones must
            # end before the caller removes the temporary store they write into.
            pool.shutdown(wait=True, cancel_futures=True)
