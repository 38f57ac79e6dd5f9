"""Seeding and the executor seam.

Randomness: all bootstrap counts are drawn in the parent process from one
``numpy.random.Generator`` seeded by the recorded seed, chunk after chunk in order
(the same numbers as one draw of all replicates), so the draws cannot depend on
workers, chunk size or backend.  Fitting a chunk is deterministic and
row-independent, so the results cannot either.

Execution: serial, ``jobs > 1`` workers (threads when the work releases the GIL, as
the compiled solver does, else joblib processes), or any
``concurrent.futures.Executor`` (a dask ``Client.get_executor()`` included).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache

__all__ = ["resolve_seed", "run_chunks", "single_threaded_blas"]


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # inspects the loaded libraries once (about 1 ms)


@contextmanager
def single_threaded_blas():
    """BLAS on one thread inside the block.

    For the summaries of a bootstrap (covariances, regressions on 20,000 x n arrays):
    a threaded OpenBLAS speeds them up by little, and its idle threads keep spinning on
    the cores afterwards, where the next bootstrap's workers need them (measured: fitting
    20,000 replicates on two threads 30 % slower right after a summary; docs/bootstrap.md).
    The limit is process-wide while the block runs (threadpoolctl), so BLAS calls of
    other threads of the application run on one thread meanwhile too; results do not
    depend on it.
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


def resolve_seed(seed: int | None) -> int:
    """The seed to record: the given one, or a fresh 63-bit one."""
    if seed is None:
        return secrets.randbits(63)
    if int(seed) != seed:  # (1.5 would silently become 1)
        raise ValueError(f"seed must be a whole number, got {seed!r}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return seed


def _progress_bar(total: int, desc: str, progress: bool | None):
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if progress is None else not progress
    return tqdm(total=total, desc=desc, disable=disable, unit="replicate", leave=False)


def run_chunks(
    func: Callable,
    payloads: Iterable,
    *,
    sizes: Sequence[int],
    jobs: int = 1,
    executor: Executor | None = None,
    progress: bool | None = None,
    desc: str = "bootstrap",
    threads: bool = False,
) -> list:
    """Apply ``func`` to every payload, in order, serially or in parallel.

    Parameters
    ----------
    func : picklable callable
    payloads : iterable
        One argument per chunk (``len(sizes)`` of them).  A generator is consumed while
        the first chunks run on threads or an executor, so that it can prepare the
        next ones meanwhile.
    sizes : sequence of int
        Replicates per chunk (for the progress bar).
    jobs : int
        Workers when > 1 (-1: all cores, as joblib counts them); ignored when
        ``executor`` is given.
    executor : concurrent.futures.Executor, optional
        Any executor, e.g. ``ProcessPoolExecutor`` or dask's ``client.get_executor()``.
    progress : bool or None
        Progress bar; None shows it only on a terminal.
    threads : bool
        Threads (``concurrent.futures.ThreadPoolExecutor``) instead of joblib's worker
        processes: for work that releases the GIL (numba ``nogil`` kernels), threads
        start instantly and copy nothing.
    """
    results: list = [None] * len(sizes)
    with _progress_bar(sum(sizes), desc, progress) as bar:
        if executor is None and jobs != 1 and len(sizes) > 1 and threads:
            from joblib import effective_n_jobs

            pool = ThreadPoolExecutor(effective_n_jobs(jobs))
            try:
                _collect(pool, func, payloads, sizes, bar, results)
            finally:
                # On an error (or Ctrl-C) the chunks not yet started are dropped, so that
                # it surfaces at once rather than after the whole run.
                pool.shutdown(wait=True, cancel_futures=True)
        elif executor is not None:
            _collect(executor, func, payloads, sizes, bar, results)
        elif jobs == 1 or len(sizes) == 1:
            _gather((func(p) for p in payloads), sizes, bar, results)
        else:
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=jobs, return_as="generator", prefer="processes")
            _gather(par(delayed(func)(p) for p in payloads), sizes, bar, results)
    return results


def _gather(outputs, sizes: Sequence[int], bar, results: list) -> None:
    """Store the chunks' outputs in order, counting them against ``sizes``."""
    n = 0
    for n, r in enumerate(outputs, start=1):
        _check_count(n, sizes)
        results[n - 1] = r
        bar.update(sizes[n - 1])
    _check_count(n, sizes, final=True)


def _check_count(n: int, sizes: Sequence[int], final: bool = False) -> None:
    if n > len(sizes) or (final and n != len(sizes)):
        raise ValueError(f"run_chunks: {'more' if n > len(sizes) else 'fewer'} payloads than "
                         f"the {len(sizes)} chunk sizes given")


def _collect(pool: Executor, func, payloads, sizes, bar, results) -> None:
    futures = []
    try:
        for p in payloads:  # submitted as drawn: the first chunks run meanwhile
            futures.append(pool.submit(func, p))
            _check_count(len(futures), sizes)
        _gather((fut.result() for fut in futures), sizes, bar, results)
    except BaseException:
        for fut in futures:  # a failed chunk (or Ctrl-C) stops the run: drop the rest
            fut.cancel()
        raise
