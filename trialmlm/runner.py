"""Run independent tasks (simulated trials, imputations) in chunks, on any executor, with a progress bar.

Each task carries its own random seed (spawned from the user's seed), so results do not
depend on the executor, the number of workers, the chunking or the order in which tasks
finish.  Every task runs with one BLAS thread (small matrices: one thread is fastest, and
the workers share the cores), which also makes results bit-identical between executors.

Three ways to run, one chunking:

* ``workers=1`` without an executor: in this process;
* ``workers > 1`` without an executor: a local process pool.  Workers are forked where
  the platform allows it, so the (large) shared context is inherited, not pickled;
  elsewhere it is pickled once per worker.  Workers ignore SIGINT: Ctrl-C (a
  KeyboardInterrupt in the parent) terminates them at once, drops the queued tasks and is
  re-raised;
* ``executor=`` any :class:`concurrent.futures.Executor` (a ``ProcessPoolExecutor``, a
  ``ThreadPoolExecutor``, Dask's ``Client.get_executor()``): one future per chunk, the
  context pickled with each chunk.  On Ctrl-C (or any error) the pending futures are
  cancelled and the exception re-raised; chunks already running on an executor the
  caller owns finish there, their results discarded.

Chunks: ``chunk_size`` tasks per future (default: the tasks split into
:data:`CHUNKS_PER_WORKER` chunks per worker), so that the per-future overhead (pickling,
scheduling: about 1 ms for a process pool, a few ms for Dask) is a small share of a
chunk's work while the chunks still balance the load.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import signal
from collections.abc import Callable
from concurrent.futures import Executor, as_completed

from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .checks import check_executor
from .errors import DataError

CHUNKS_PER_WORKER = 4
_CONTEXT = None


def _init(context) -> None:
    global _CONTEXT
    _CONTEXT = context
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates the workers
    threadpool_limits(1)  # the workers share the cores; BLAS threads would compete for them


def _run_chunk(job: tuple) -> tuple[int, list]:
    """A chunk in a worker of the local pool (the context is the worker's global)."""
    work, i, chunk = job
    return i, [work(_CONTEXT, task) for task in chunk]


def run_chunk(work: Callable, context, chunk: list) -> list:
    """A chunk on any executor, with one BLAS thread."""
    with threadpool_limits(1):
        return [work(context, task) for task in chunk]


def check_workers(workers) -> int:
    """``workers`` as a positive integer (DataError otherwise)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DataError(f"workers must be a positive integer, got {workers!r}")
    return workers


def check_chunk_size(chunk_size) -> int | None:
    """``chunk_size``: None (the default) or a positive integer (DataError otherwise)."""
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise DataError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return chunk_size


def chunk_tasks(tasks: list, workers: int, chunk_size: int | None) -> list[list]:
    """``tasks`` in consecutive chunks of ``chunk_size`` (default: :data:`CHUNKS_PER_WORKER`
    chunks per worker)."""
    if check_chunk_size(chunk_size) is None:
        chunk_size = max(1, math.ceil(len(tasks) / (CHUNKS_PER_WORKER * workers)))
    return [tasks[i:i + chunk_size] for i in range(0, len(tasks), chunk_size)]


def run_tasks(work: Callable, context, tasks: list, workers: int = 1, progress: bool | None = None,
              desc: str = "imputations", executor: Executor | None = None,
              chunk_size: int | None = None) -> list:
    """``[work(context, t) for t in tasks]``, in this process, a local pool or on ``executor``.

    Parameters
    ----------
    work : a module-level function (picklable) of ``(context, task)``.
    context : what every task shares (pickled with each chunk on an ``executor``).
    workers : processes of the local pool; with an ``executor``, the number of its workers,
        used only to size the chunks.
    progress : progress bar: None shows it only on an interactive terminal or notebook
        (tqdm's rule); True always, False never.
    executor : any :class:`concurrent.futures.Executor`; None for the local pool.
    chunk_size : tasks per chunk (see the module docstring).

    Returns
    -------
    list
        The results in the order of ``tasks``, complete: an interruption raises.
    """
    workers = check_workers(workers)
    check_executor(executor)
    chunks = chunk_tasks(tasks, workers, chunk_size)
    bar = tqdm(total=len(tasks), desc=desc, disable=(None if progress is None else not progress), leave=False)
    results = [None] * len(chunks)
    try:
        if executor is not None:
            _on_executor(executor, work, context, chunks, results, bar)
        elif workers == 1 or len(chunks) < 2:
            for i, chunk in enumerate(chunks):
                results[i] = run_chunk(work, context, chunk)
                bar.update(len(chunk))
        else:
            _on_pool(workers, work, context, chunks, results, bar)
    finally:
        bar.close()
    return [r for chunk in results for r in chunk]


def _on_pool(workers: int, work: Callable, context, chunks: list, results: list, bar) -> None:
    method = "fork" if "fork" in mp.get_all_start_methods() else None
    # leaving the block terminates the workers: at the end, on an error and on Ctrl-C
    with mp.get_context(method).Pool(workers, initializer=_init, initargs=(context,)) as pool:
        for i, out in pool.imap_unordered(_run_chunk, [(work, i, c) for i, c in enumerate(chunks)]):
            results[i] = out
            bar.update(len(out))


def _on_executor(executor: Executor, work: Callable, context, chunks: list, results: list, bar) -> None:
    # one BLAS thread here too: a thread executor's tasks run in this process
    with threadpool_limits(1):
        futures = {executor.submit(run_chunk, work, context, chunk): i for i, chunk in enumerate(chunks)}
        try:
            for future in as_completed(futures):
                out = future.result()
                results[futures[future]] = out
                bar.update(len(out))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
