"""Which device a training task uses: `auto`, `cpu` or `cuda`, and why.

`auto` asks the CUDA driver itself (`libcuda.so.1`, which the NVIDIA container runtime mounts into
a pod that was given a GPU) how many devices this process sees, so `CUDA_VISIBLE_DEVICES` and the
device plugin's choice are honoured. Nothing is imported or initialised unless an estimator can
use a GPU. On the CPU, small fits and single-row predictions run on one OpenMP thread
(`cpu_threads`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from dataclasses import dataclass
from typing import Any

from kfp_ct.errors import ParameterError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
AUTO, CPU, CUDA = DEVICES
# Below this many rows a fit runs on one OpenMP thread. HistGradientBoosting on the synthetic
# data at load 2-3 on 2 cores: 4,000 rows 0.26-0.44 s with 1 thread vs 2.4-3.4 s with 2;
# 20,000: 0.47-0.80 vs 5.4-11.5 s; 60,000: 1.6-1.8 vs 6.0-14.7 s (spin-waiting threads).
SINGLE_THREAD_FIT_ROWS = 100_000


def cpu_threads(rows: int, below: int = SINGLE_THREAD_FIT_ROWS) -> contextlib.AbstractContextManager[Any]:
    """One OpenMP/BLAS thread for the work inside (threadpoolctl) when `rows` < `below`.

    The controller looks at the runtimes loaded when it is entered: enter it after the
    estimator's library is imported.
    """
    if rows >= below:
        return contextlib.nullcontext()
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().limit(limits=1)


@dataclass(frozen=True)
class DeviceChoice:
    """The device a fit runs on, what was asked for, and the reason in one line."""

    requested: str
    device: str  # cpu | cuda
    reason: str


def check_device(value: str | None) -> str:
    """Return `value` (empty means `auto`) if it is a known device; else raise naming them."""
    value = (value or AUTO).strip().lower()
    if value not in DEVICES:
        raise ParameterError(f"device must be one of {', '.join(DEVICES)}; got '{value}'")
    return value


def visible_gpus() -> tuple[int, str]:
    """How many CUDA devices this process sees, and how that was found out."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0, "no CUDA driver (libcuda.so.1) in this container"
    status = cuda.cuInit(0)
    if status != 0:
        return 0, f"the CUDA driver found no usable GPU (cuInit error {status})"
    count = ctypes.c_int(0)
    status = cuda.cuDeviceGetCount(ctypes.byref(count))
    if status != 0:
        return 0, f"the CUDA driver could not count GPUs (cuDeviceGetCount error {status})"
    return count.value, f"the CUDA driver sees {count.value} GPU(s)"


def xgboost_has_cuda() -> bool:
    """Whether the installed XGBoost was built with CUDA (the `xgboost-cpu` wheel is not)."""
    import xgboost

    return bool(xgboost.build_info().get("USE_CUDA"))


def resolve_device(estimator: str, requested: str | None, gpu_capable: bool) -> DeviceChoice:
    """The device estimator `estimator` trains on for `requested` (auto|cpu|cuda).

    Args:
        estimator: Estimator name, for the messages.
        requested: `auto`, `cpu` or `cuda` (empty means `auto`).
        gpu_capable: Whether this estimator has a CUDA implementation in this project.
    """
    requested = check_device(requested)
    if requested == CPU:
        return DeviceChoice(requested, CPU, "device=cpu was requested")
    if not gpu_capable:
        if requested == CUDA:
            raise ParameterError(
                f"device=cuda: estimator '{estimator}' has no GPU implementation here (xgboost has); "
                "use device=auto or cpu"
            )
        return DeviceChoice(requested, CPU, f"estimator '{estimator}' trains on the CPU only")
    if not xgboost_has_cuda():
        if requested == CUDA:
            raise ParameterError("device=cuda: the installed xgboost was built without CUDA (xgboost-cpu)")
        return DeviceChoice(requested, CPU, "the installed xgboost was built without CUDA")
    count, how = visible_gpus()
    if count == 0:
        if requested == CUDA:
            raise ParameterError(f"device=cuda but no GPU is visible: {how}")
        return DeviceChoice(requested, CPU, f"no GPU visible: {how}")
    return DeviceChoice(requested, CUDA, f"{how}; device={requested}")
