"""run_chunks: order, errors that stop the run, payload counts."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from seufit.parallel import run_chunks

N_CHUNKS = 40


class _Work:
    """Chunk i returns i * 10 after a short sleep; chunk ``fail`` raises at once."""

    def __init__(self, fail=None):
        self.fail = fail
        self.ran = []
        self.lock = threading.Lock()

    def __call__(self, i):
        with self.lock:
            self.ran.append(i)
        if i == self.fail:
            raise ValueError(f"chunk {i} failed")
        time.sleep(0.01)
        return i * 10


@pytest.mark.parametrize("jobs", [1, 2, -1])
def test_results_in_order(jobs):
    work = _Work()
    out = run_chunks(work, iter(range(N_CHUNKS)), sizes=[1] * N_CHUNKS, jobs=jobs,
                     threads=True, progress=False)
    assert out == [10 * i for i in range(N_CHUNKS)]


def test_results_in_order_through_an_executor():
    work = _Work()
    with ThreadPoolExecutor(3) as ex:
        out = run_chunks(work, range(N_CHUNKS), sizes=[1] * N_CHUNKS, executor=ex,
                         progress=False)
    assert out == [10 * i for i in range(N_CHUNKS)]


@pytest.mark.parametrize("own_pool", [True, False])
def test_a_failing_chunk_stops_the_run(own_pool):
    # The error surfaces with the chunks not yet started dropped, not after all of them.
    work = _Work(fail=1)
    with pytest.raises(ValueError, match="chunk 1 failed"):
        if own_pool:
            run_chunks(work, range(N_CHUNKS), sizes=[1] * N_CHUNKS, jobs=2, threads=True,
                       progress=False)
        else:
            with ThreadPoolExecutor(2) as ex:
                run_chunks(work, range(N_CHUNKS), sizes=[1] * N_CHUNKS, executor=ex,
                           progress=False)
    assert len(work.ran) < N_CHUNKS // 2


def test_a_failing_payload_generator_stops_the_run():
    work = _Work()

    def payloads():
        for i in range(N_CHUNKS):
            if i == 5:
                raise RuntimeError("drawing failed")
            yield i

    with pytest.raises(RuntimeError, match="drawing failed"):
        run_chunks(work, payloads(), sizes=[1] * N_CHUNKS, jobs=2, threads=True,
                   progress=False)
    assert len(work.ran) <= 5


@pytest.mark.parametrize("jobs,threads", [(1, False), (2, True)])
@pytest.mark.parametrize("n_payloads", [N_CHUNKS - 1, N_CHUNKS + 1])
def test_payload_count_must_match_sizes(jobs, threads, n_payloads):
    which = "fewer" if n_payloads < N_CHUNKS else "more"
    with pytest.raises(ValueError, match=f"{which} payloads than the {N_CHUNKS} chunk sizes"):
        run_chunks(_Work(), range(n_payloads), sizes=[1] * N_CHUNKS, jobs=jobs,
                   threads=threads, progress=False)
