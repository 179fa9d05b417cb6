"""Training: fit time and peak memory of one estimator at a given size.

`python -m benchmarks.train_bench --rows N --repeats R [--estimator NAME]` prints one JSON line.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import emit


def rss_mib() -> float:
    """Current resident memory of this process in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    """Fit `kfp_ct.core.train.train_model` (`--estimator`, default hyperparameters) `repeats` times."""
    from kfp_ct.core.estimators import DEFAULT_ESTIMATOR

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--estimator", default=DEFAULT_ESTIMATOR)
    args = parser.parse_args()
    from kfp_ct.core.schema import infer_schema
    from kfp_ct.core.train import train_model
    from kfp_ct.data.synth import SynthSpec, make_dataset

    frame = make_dataset(SynthSpec(rows=args.rows))
    schema = infer_schema(frame, "label", "binary")
    before = rss_mib()
    times = []
    device = ""
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = train_model(frame, schema, args.estimator, {}, 42, device="cpu")
        times.append(time.perf_counter() - start)
        device = result.device.device if result.device else "cpu"
    emit(
        {
            "rows": args.rows,
            "estimator": args.estimator,
            "device": device,
            "times_s": times,
            "rss_before_fit_mib": before,
            "data_mib": frame.memory_usage(deep=True).sum() / 2**20,
        }
    )


if __name__ == "__main__":
    main()
