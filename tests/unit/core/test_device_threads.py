"""`kfp_ct.core.device.cpu_threads`: small fits and predictions run on one OpenMP thread."""

from __future__ import annotations

import contextlib

from kfp_ct.core.device import SINGLE_THREAD_FIT_ROWS, cpu_threads


def test_small_work_runs_on_one_openmp_thread():
    import sklearn.ensemble  # noqa: F401 - loads scikit-learn's OpenMP runtime
    from threadpoolctl import threadpool_info

    with cpu_threads(10):
        pools = [p for p in threadpool_info() if p["user_api"] == "openmp"]
        assert pools and all(p["num_threads"] == 1 for p in pools)


def test_large_work_keeps_the_pools_as_they_are():
    assert isinstance(cpu_threads(SINGLE_THREAD_FIT_ROWS), contextlib.nullcontext)
    assert isinstance(cpu_threads(5, below=5), contextlib.nullcontext)
