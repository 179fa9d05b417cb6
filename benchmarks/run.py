"""`python -m benchmarks.run [--size tiny|full] [--only NAME ...]`: measure, write RESULTS.md + JSON.

Every figure in RESULTS.md comes from this run on this machine, except the calibration section,
which `make calibrate` (`--only calibration --merge`) measures and a later `make bench` keeps;
goals are judged from them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks import calibration, pipeline_bench, serving_bench
from benchmarks.common import machine, run_child, summary
from benchmarks.report import (
    CONVERTERS_HEADING,
    PIPELINE_HEADING,
    SERVING_HEADING,
    _calibration,
    _converters,
    _pipeline,
    _serving,
    render,
    splice,
)

HERE = Path(__file__).resolve().parent
NAMES = ("pipeline", "drift", "serving", "training", "calibration", "converters", "capture", "shadow")
# `make bench`: the speed benchmarks. The calibration (error rates of the decisions, about 10 min
# at full size) is `make calibrate`; its last figures stay in RESULTS.md.
BENCH = tuple(n for n in NAMES if n != "calibration")
BUDGET_S = 15 * 60  # the full `make bench` (issue #15)
TRAIN_ESTIMATORS = ("hist_gradient_boosting", "xgboost", "lightgbm")
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "pipeline": {"rows": 5000, "repeats": 3, "with_kfp": True, "deploy": "local"},
        "drift": {"rows": (10_000, 100_000, 1_000_000), "paths": ("fast", "scipy", "evidently"),
                  "repeats": {10_000: 5, 100_000: 5, 1_000_000: 3}},
        "serving": {"n_latency": 500, "n_load": 2000, "rounds": 3, "connections": 8, "workers": (1, 2),
                    "train_rows": 5000, "floors": ("starlette", "kserve"), "redeploy_rows": 2000},
        "training": {"rows": (10_000, 100_000, 1_000_000), "repeats": {10_000: 5, 100_000: 3, 1_000_000: 3},
                     "estimators": TRAIN_ESTIMATORS},
        "calibration": calibration.SIZES["full"],
        "converters": {"rows": 5000, "repeats": 200},
        "capture": {"size": "full"},
        "shadow": {"size": "full"},
    },
    "tiny": {
        "pipeline": {"rows": 300, "repeats": 1, "with_kfp": False, "deploy": "none"},
        "drift": {"rows": (2_000,), "paths": ("fast", "scipy"), "repeats": {2_000: 2}},
        "serving": {"n_latency": 20, "n_load": 40, "rounds": 1, "connections": 2, "workers": (1,),
                    "train_rows": 500, "floors": (), "redeploy_rows": None, "cap_s": 2.0},
        "training": {"rows": (2_000,), "repeats": {2_000: 1}, "estimators": TRAIN_ESTIMATORS},
        "calibration": calibration.SIZES["ci"],
        "converters": {"rows": 600, "repeats": 20, "only": ("hist_gradient_boosting", "dummy")},
    },
}  # fmt: skip


def run_drift(cfg: dict[str, Any]) -> dict[str, Any]:
    """Each (rows, path) in its own process, so peak RSS and imports are its own."""
    out: dict[str, Any] = {}
    for rows in cfg["rows"]:
        for path in cfg["paths"]:
            r = run_child(
                ["benchmarks.drift_bench", "--rows", str(rows), "--path", path,
                 "--repeats", str(cfg["repeats"][rows])],
                timeout=600,
            )  # fmt: skip
            r.pop("stderr_tail", None)
            r["time_s"] = summary(r.pop("times_s"))
            out[f"{rows}/{path}"] = r
    return out


def run_training(cfg: dict[str, Any]) -> dict[str, Any]:
    """Each (rows, estimator) in its own process (peak RSS is that process's high-water mark)."""
    out: dict[str, Any] = {}
    for rows in cfg["rows"]:
        for estimator in cfg["estimators"]:
            r = run_child(
                ["benchmarks.train_bench", "--rows", str(rows), "--repeats", str(cfg["repeats"][rows]),
                 "--estimator", estimator],
                900,
            )  # fmt: skip
            r.pop("stderr_tail", None)
            r["time_s"] = summary(r.pop("times_s"))
            out[f"{rows}/{estimator}"] = r
    return out


def run_converters(cfg: dict[str, Any]) -> dict[str, Any]:
    """ONNX Runtime / treelite vs the fast path, in its own process (`benchmarks.converters_bench`)."""
    args = ["benchmarks.converters_bench", "--rows", str(cfg["rows"]), "--repeats", str(cfg["repeats"])]
    for name in cfg.get("only", ()):
        args += ["--only", name]
    r = run_child(args, 1200)
    r.pop("stderr_tail", None)
    return r


def run_side(name: str, size: str, out: Path) -> dict[str, Any]:
    """`benchmarks.<name>_bench --size <size>` in its own process; also written to <name>-results.json."""
    r = run_child([f"benchmarks.{name}_bench", "--size", size], 1800)
    r.pop("stderr_tail", None)
    (out / f"{name}-results.json").write_text(json.dumps(r, indent=2, default=str) + "\n")
    return r


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and write the results files."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("--size", choices=tuple(SIZES), default="full")
    parser.add_argument("--only", action="append", choices=NAMES, help="run only these (repeatable)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for RESULTS.md and results.json")
    parser.add_argument(
        "--merge", action="store_true", help="keep the other benchmarks' figures from results.json in --out"
    )
    parser.add_argument(
        "--baseline", help="pipeline: also run this git revision's code, interleaved (before/after)"
    )
    args = parser.parse_args(argv)
    cfg = SIZES[args.size]
    results: dict[str, Any] = {"size": args.size, "machine": machine()}
    previous = args.out / "results.json"
    if args.merge and previous.exists():  # the selected benchmarks replace theirs, the rest stays
        results = json.loads(previous.read_text())
    started = time.perf_counter()
    ran = [n for n in args.only or BENCH if n in cfg]  # capture and shadow: full size only
    for name in ran:
        print(f"benchmark {name} ({args.size}) ...", flush=True)
        t0 = time.perf_counter()
        if name == "pipeline":
            results[name] = pipeline_bench.bench(**cfg[name], baseline=args.baseline)
        elif name == "drift":
            results[name] = run_drift(cfg[name])
        elif name == "serving":
            results[name] = serving_bench.bench(**cfg[name])
        elif name == "converters":
            results[name] = run_converters(cfg[name])
        elif name in ("capture", "shadow"):
            args.out.mkdir(parents=True, exist_ok=True)
            results[name] = run_side(name, cfg[name]["size"], args.out)
        elif name == "calibration":
            results[name] = {**calibration.bench(**cfg[name]), "size": args.size, "machine": machine()}
        else:
            results[name] = run_training(cfg[name])
        results[name]["loadavg_after"] = list(os.getloadavg())
        if not args.merge:  # the time table is one whole run's, as its total and budget are
            results.setdefault("elapsed_s", {})[name] = time.perf_counter() - t0
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
        partial = args.out / "results.partial.json"  # a later failure keeps what was measured
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(results, indent=2, default=str) + "\n")
    gpu_file = args.out / "gpu_results.json"  # from `make bench-gpu` on a GPU machine, if any
    if gpu_file.is_file():
        results["gpu"] = json.loads(gpu_file.read_text())
    if not args.merge:
        results["machine"]["loadavg_end"] = list(os.getloadavg())
        results["total_s"] = time.perf_counter() - started
        results["budget_s"] = BUDGET_S if args.size == "full" and not args.only else None
        if "calibration" not in results and previous.exists():  # measured by `make calibrate`
            kept = json.loads(previous.read_text()).get("calibration")
            if kept and kept.get("size") == args.size:
                results["calibration"] = kept
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    markdown = args.out / "RESULTS.md"
    if (
        args.merge and markdown.exists() and args.only == ["calibration"]
    ):  # keep the other sections as measured
        markdown.write_text(splice(markdown.read_text(), _calibration(results["calibration"])))
    elif args.merge and markdown.exists() and args.only == ["serving"]:
        markdown.write_text(splice(markdown.read_text(), _serving(results["serving"]), SERVING_HEADING))
    elif args.merge and markdown.exists() and args.only == ["pipeline"]:
        markdown.write_text(splice(markdown.read_text(), _pipeline(results["pipeline"]), PIPELINE_HEADING))
    elif args.merge and markdown.exists() and args.only == ["converters"]:
        markdown.write_text(
            splice(markdown.read_text(), _converters(results["converters"]), CONVERTERS_HEADING)
        )
    else:
        markdown.write_text(render(results))
    (args.out / "results.partial.json").unlink(missing_ok=True)
    print(f"wrote {args.out / 'RESULTS.md'} and results.json in {results['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
