"""`kfp-ct render`: print the Kubernetes objects the deploy step would apply (for GitOps)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `render inferenceservice`."""
    render = subparsers.add_parser("render", help="print manifests the deploy step would apply")
    kinds = render.add_subparsers(dest="kind", metavar="KIND", required=True)
    p = kinds.add_parser(
        "inferenceservice",
        aliases=["isvc"],
        help="the InferenceService for one model version",
        description="Print the InferenceService YAML the kserve deploy target would apply.",
    )
    p.add_argument("--name", required=True, help="InferenceService name (DNS-1035 label)")
    p.add_argument("--storage-uri", required=True, help="model location KServe pulls: s3://, gs://, pvc://")
    p.add_argument("--profile", default="cpu", help="cpu, gpu, kind-gpu or a profile YAML file")
    p.add_argument("--no-gpu-limits", action="store_true", help="omit GPU limits (kind)")
    p.add_argument("--mode", default="Standard", help="Standard or Knative")
    p.add_argument("--runtime", default="kfp-ct", help="kfp-ct, kserve-mlserver, ...")
    p.add_argument("--canary-percent", type=int, help="render a canary taking P%% of traffic")
    p.add_argument(
        "--stable-storage-uri",
        help="Standard-mode canary: the model serving now (stays in spec.predictor)",
    )
    p.add_argument("--canary-name", default="canary", help="Standard-mode canary predictor name")
    p.add_argument("--namespace", default="kfp-ct", help="serving namespace")
    p.add_argument("--service-account", default="kfp-ct-storage", help="ServiceAccount with the S3 secret")
    p.add_argument(
        "--estimator",
        help="the model's estimator (e.g. xgboost): on a GPU profile, GPUs are requested only when "
        "the runtime can use them for it",
    )
    p.set_defaults(handler=_render_isvc)


def render_isvc_yaml(args: argparse.Namespace) -> str:
    """The YAML text for `render inferenceservice` arguments."""
    import yaml

    from kfp_ct.cluster import inferenceservice as isvc
    from kfp_ct.cluster.profiles import load_profile
    from kfp_ct.cluster.storage import check_pullable
    from kfp_ct.errors import ClusterError

    profile = load_profile(args.profile, gpu_limits=False if args.no_gpu_limits else None)
    isvc.check_mode(args.mode)
    estimator = getattr(args, "estimator", None)
    new = isvc.predictor_spec(
        check_pullable(args.storage_uri), args.runtime, profile, args.service_account, estimator=estimator
    )
    percent = args.canary_percent
    if percent is None or percent >= 100:
        obj = isvc.build_inferenceservice(args.name, args.namespace, new, args.mode)
    elif args.mode == "Knative":
        base = isvc.build_inferenceservice(args.name, args.namespace, new, args.mode)
        obj = isvc.with_canary(base, new, percent, args.canary_name)
    else:
        if not args.stable_storage_uri:
            raise ClusterError(
                "a Standard-mode canary keeps the serving model in spec.predictor: pass "
                "--stable-storage-uri with the storage URI of the model serving now"
            )
        stable = isvc.predictor_spec(
            check_pullable(args.stable_storage_uri), args.runtime, profile, args.service_account,
            estimator=estimator,
        )  # fmt: skip
        base = isvc.build_inferenceservice(args.name, args.namespace, stable, args.mode)
        obj = isvc.with_canary(base, new, percent, args.canary_name)
    return yaml.safe_dump(obj, sort_keys=False)


def _render_isvc(args: argparse.Namespace) -> int:
    print(render_isvc_yaml(args), end="")
    return 0
