r"""BLAS threads of the fitting and inference hot paths, set for a call and restored after it.

The likelihood works on stacks of small matrices (visits x visits and coefficients x
coefficients per missingness pattern), Kenward-Roger and the sandwich covariances on the
same blocks or on one cluster's block, the imputations and refits on the same likelihood.
At these sizes a second BLAS thread gains nothing and, when the cores are shared with
other processes (a user's laptop is never idle), its threads wait for each other: on the
2-core development machine a ``us`` fit of 1,000 subjects x 10 visits took 0.12 s with one
OpenBLAS thread and 0.46 s with two under a load of about 1, the BCVA fit 1.3 s against
6.7 s under a load of 10 from other jobs.  Dense matrices up to 1,600 x 1,600 (the
sandwich of clusters of that many rows) were rarely faster with two threads (products
under load, 1.3-1.7 times) and up to 30 times slower (solve, Cholesky, eigen-decomposition;
docs/performance.md, "BLAS threads").  So the rule is one thread, :data:`HOT_PATH_THREADS`,
for every hot path; no matrix trialmlm forms is large enough for more.

:func:`blas_threads` applies it around a block of code for every BLAS library loaded
(numpy's and scipy's OpenBLAS, MKL; threadpoolctl) and restores the caller's setting
after it: the caller's thread count is never changed.  Nested blocks and blocks in several
threads of one process share one limit (BLAS's setting is global to the process): the
first in sets it, the last out restores the caller's.  (OpenBLAS 0.3.31 ignores a change
made from another thread than the main one once the main thread has set the number: in a
thread executor's threads the main thread's setting holds.)  The limit costs tens of
microseconds: threadpoolctl's search for the libraries, which takes milliseconds
(``threadpool_limits`` searches at each call), is made once, after numpy's and scipy's
libraries are loaded; then the threads are read, and set only where they differ from the
limit; a nested block costs a lock.

The environment variable ``TRIALMLM_BLAS_THREADS`` changes the rule, read at each block:
a positive integer is the number of threads of the hot paths; ``caller`` leaves the
threads as the caller set them (``OPENBLAS_NUM_THREADS``, threadpoolctl), e.g. on a
machine with many idle cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import DataError

HOT_PATH_THREADS = 1
ENVIRONMENT = "TRIALMLM_BLAS_THREADS"
CALLER = "caller"


class _Limit:
    """The one process-wide limit: the BLAS libraries, the number of calls inside the limit and
    the threads to give back to the caller (library, caller's number) where they were changed."""

    lock = threading.Lock()
    libraries = None
    inside = 0
    changed = ()


def configured_threads() -> int | None:
    """The number of BLAS threads of the hot paths: :data:`HOT_PATH_THREADS`, or as
    ``TRIALMLM_BLAS_THREADS`` says (None: the caller's setting); DataError for another value."""
    value = os.environ.get(ENVIRONMENT, "").strip()
    if not value:
        return HOT_PATH_THREADS
    if value.lower() == CALLER:
        return None
    if value.isdecimal() and int(value) > 0:
        return int(value)
    raise DataError(f"{ENVIRONMENT}={value!r}: expected a positive number of BLAS threads or "
                    f"'{CALLER}' (leave the threads as the caller set them)")


def _libraries() -> list:
    """threadpoolctl's controllers of the BLAS libraries, found once."""
    if _Limit.libraries is None:
        import scipy.linalg  # noqa: F401  scipy's BLAS loaded, so that the one search finds it
        from threadpoolctl import ThreadpoolController

        _Limit.libraries = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    return _Limit.libraries


@contextmanager
def blas_threads() -> Iterator[None]:
    """Run the block with :func:`configured_threads` BLAS threads, then restore the caller's
    setting (module docstring: nesting, threads of the process, cost)."""
    threads = configured_threads()
    if threads is None:
        yield
        return
    with _Limit.lock:
        if _Limit.inside == 0:
            caller = [(lib, lib.get_num_threads()) for lib in _libraries()]
            _Limit.changed = tuple((lib, n) for lib, n in caller if n != threads)
            for lib, _ in _Limit.changed:
                lib.set_num_threads(threads)
        _Limit.inside += 1
    try:
        yield
    finally:
        with _Limit.lock:
            _Limit.inside -= 1
            if _Limit.inside == 0:
                for lib, n in _Limit.changed:
                    lib.set_num_threads(n)
                _Limit.changed = ()
