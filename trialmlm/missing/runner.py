"""Run independent tasks in worker processes, with a progress bar.

Each task carries its own random seed (spawned from the user's seed), so results do
not depend on the number of workers or on the order in which tasks finish.  Workers
are forked where the platform allows it, so the (large) shared context is inherited,
not pickled; elsewhere it is pickled once per worker.  Workers ignore SIGINT: Ctrl-C (a
KeyboardInterrupt in the parent) terminates them at once, drops the queued tasks and is
re-raised.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from collections.abc import Callable

from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..errors import DataError

_CONTEXT = None


def _init(context) -> None:
    global _CONTEXT
    _CONTEXT = context
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates the workers
    threadpool_limits(1)  # the workers share the cores; BLAS threads would compete for them


def _run_chunk(job: tuple) -> tuple[int, list]:
    work, i, chunk = job
    return i, [work(_CONTEXT, task) for task in chunk]


def run_tasks(work: Callable, context, tasks: list, workers: int = 1, progress: bool | None = None,
              desc: str = "imputations") -> list:
    """``[work(context, t) for t in tasks]``, over ``workers`` processes.

    ``progress=None`` shows a bar only on an interactive terminal or notebook (tqdm's rule);
    True always, False never.
    """
    if not isinstance(workers, int) or workers < 1:
        raise DataError(f"workers must be a positive integer, got {workers!r}")
    bar = tqdm(total=len(tasks), desc=desc, disable=(None if progress is None else not progress), leave=False)
    try:
        if workers == 1 or len(tasks) < 2:
            out = []
            with threadpool_limits(1):  # small matrices: one BLAS thread is fastest
                for t in tasks:
                    out.append(work(context, t))
                    bar.update(1)
            return out
        size = max(1, len(tasks) // (workers * 8))
        chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
        method = "fork" if "fork" in mp.get_all_start_methods() else None
        results = [None] * len(chunks)
        # leaving the block terminates the workers: at the end, on an error and on Ctrl-C
        with mp.get_context(method).Pool(workers, initializer=_init, initargs=(context,)) as pool:
            for i, out in pool.imap_unordered(_run_chunk, [(work, i, c) for i, c in enumerate(chunks)]):
                results[i] = out
                bar.update(len(out))
        return [r for chunk in results for r in chunk]
    finally:
        bar.close()
