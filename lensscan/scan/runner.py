"""Run fields' chunk tasks in this process or on a dask.distributed cluster.

Both runners yield ``(field, error)`` as each field's chunks are all done (``error`` is
``None``) or as soon as one of its chunks fails, so the caller writes each catalog while
other fields are still running and a failing field never stops the others.

On Dask every chunk is two tasks, ``stage`` (FITS -> Zarr, I/O bound) then ``score``
(Zarr -> windows -> model -> score map, compute bound), so a worker's threads read the next
chunks while others compute. Tasks return only chunk indices; pixels travel through the
Zarr work store, never through the scheduler, which keeps memory bounded.

A task that raises is run again up to ``retries`` times; a task whose worker dies (a batch
job pre-empted or out of walltime) is rescheduled by Dask on another worker, up to its
``distributed.scheduler.allowed-failures`` (3). Tasks are idempotent and skip what the
work store says is done, so a retried chunk never repeats finished work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from lensscan.progress import track
from lensscan.scan.chunks import ChunkJob, score_chunk, stage_chunk

FieldOutcome = tuple[int, BaseException | None]


def _stage_and_prepare(job: ChunkJob, index: int) -> Any:
    """Stage chunk ``index`` and read it back ready for the model (the helper thread's work)."""
    stage_chunk(job, index)
    return job.prepare(index)


def run_in_process(
    jobs: Sequence[ChunkJob], pending: Mapping[int, Sequence[int]]
) -> Iterator[FieldOutcome]:
    """Process chunks one after another in this process (``--workers 0``).

    One helper thread stages the next chunk (FITS -> Zarr) and reads it back
    (``job.prepare``: in grid and positions modes with its windows' bad-pixel fractions)
    while the current one is scored, so reading overlaps with inference, as on Dask.
    Detection stays on the main thread: sep holds the interpreter lock while it runs.

    Args:
        jobs: The fields' jobs.
        pending: Field index -> chunks still to do.

    Yields:
        ``(field index, error or None)`` per field, in order.
    """
    steps = [(f, index) for f in range(len(jobs)) for index in pending.get(f, ())]
    remaining = {f: len(pending.get(f, ())) for f in range(len(jobs))}
    for f in [f for f, n in remaining.items() if n == 0]:
        yield f, None
    if not steps:
        return
    failed: set[int] = set()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lensscan-stage") as reader:

        def stage_ahead(n: int) -> Future[Any] | None:
            if n >= len(steps) or steps[n][0] in failed:
                return None
            f, index = steps[n]
            return reader.submit(_stage_and_prepare, jobs[f], index)

        ahead = stage_ahead(0)
        for n, (f, index) in enumerate(
            track(steps, total=len(steps), description="scanning chunks")
        ):
            staged, ahead = ahead, stage_ahead(n + 1)
            if f in failed or staged is None:
                continue
            try:
                score_chunk(jobs[f], index, prepared=staged.result())
            except Exception as exc:  # one field's failure must not stop the others
                failed.add(f)
                yield f, exc
                continue
            finally:
                staged = None  # the scored chunk's pixels are not kept while a field ends
            remaining[f] -= 1
            if remaining[f] == 0:
                yield f, None


def run_on_dask(
    client: Any,
    jobs: Sequence[ChunkJob],
    pending: Mapping[int, Sequence[int]],
    retries: int = 0,
) -> Iterator[FieldOutcome]:
    """Submit every chunk of every field to a dask.distributed client; fields run in parallel.

    Args:
        client: A ``distributed.Client``.
        jobs: The fields' jobs.
        pending: Field index -> chunks still to do.
        retries: Times a task that raised is run again before its field fails.

    Yields:
        ``(field index, error or None)`` per field, as each finishes.
    """
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]
    owner: dict[str, int] = {}
    futures_of: dict[int, list[Any]] = {}
    scored_futures: list[Any] = []
    remaining = {f: len(pending.get(f, ())) for f in range(len(jobs))}
    for f, job in enumerate(jobs):
        if not remaining[f]:
            continue
        # A task holding the job, not scattered data: if the worker keeping it dies, the
        # scheduler recomputes it instead of failing every chunk of the field.
        job_ref = client.submit(_job, job, key=f"lensscan-job-{run}-{f}")
        futures_of[f] = [job_ref]
        for index in pending[f]:
            tag = f"{run}-{f}-{index}"
            staged = client.submit(
                stage_chunk, job_ref, index, key=f"lensscan-stage-{tag}", retries=retries
            )
            scored = client.submit(
                score_chunk,
                job_ref,
                index,
                staged,
                key=f"lensscan-score-{tag}",
                retries=retries,
            )
            futures_of[f] += [staged, scored]
            owner[scored.key] = f
            scored_futures.append(scored)
    # Everything is submitted before the caller gets control back to write any catalog.
    for f in [f for f, n in remaining.items() if n == 0]:
        yield f, None
    failed: set[int] = set()
    for future in track(
        as_completed(scored_futures), total=len(scored_futures), description="scanning chunks"
    ):
        f = owner[future.key]
        if f in failed:
            continue
        if future.status != "finished":
            failed.add(f)
            client.cancel([x for x in futures_of[f] if not x.done()])
            yield f, _future_error(future)
            continue
        remaining[f] -= 1
        if remaining[f] == 0:
            yield f, None
    futures_of.clear()


def _job(job: ChunkJob) -> ChunkJob:
    """The field's job, as a task result its chunk tasks depend on."""
    return job


def _future_error(future: Any) -> BaseException:
    try:
        error = future.exception()
    except Exception as exc:  # a cancelled future raises instead of returning its error
        return exc
    return (
        error if error is not None else RuntimeError(f"task {future.key} ended as {future.status}")
    )
