"""``kfp-ct submit``, ``kfp-ct upload`` and ``kfp-ct schedule``: work on a KFP cluster."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from kfp_ct.errors import ParameterError

SCHEDULE_ACTIONS = ("create", "list", "pause", "resume", "delete")


def _connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--host",
        default=os.environ.get("KFP_CT_HOST") or os.environ.get("KF_PIPELINES_ENDPOINT"),
        help="KFP API/UI base URL, e.g. http://localhost:8080 (env KFP_CT_HOST)",
    )
    group.add_argument("--token", help="bearer token (default: env KFP_CT_TOKEN or KF_PIPELINES_TOKEN)")
    group.add_argument("--namespace", help="Kubeflow profile namespace on multi-user clusters")
    group.add_argument("--ca-cert", help="CA bundle to verify the server's TLS certificate")
    group.add_argument(
        "--insecure-skip-tls-verify", action="store_true", help="do not verify TLS (test only)"
    )
    group.add_argument("--ui-host", help="base URL for printed links, when it differs from --host")


def _pipeline_args(parser: argparse.ArgumentParser, required_help: str) -> None:
    parser.add_argument("--pipeline", help=required_help)
    parser.add_argument("--package", help="upload this compiled pipeline YAML instead of compiling")
    parser.add_argument("--profile", help="compile profile passed to compile_pipeline")


def _run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pipeline parameter, typed by the pipeline's signature (repeatable)",
    )
    parser.add_argument("--experiment", default="kfp-ct", help="experiment name (created if missing)")
    parser.add_argument("--service-account", help="Kubernetes service account of the run")
    parser.add_argument("--no-cache", action="store_true", help="disable step caching for this run")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``submit``, ``upload`` and ``schedule`` subcommands."""
    p = subparsers.add_parser(
        "submit",
        help="compile, upload and run a pipeline on a KFP cluster",
        description="Compile a pipeline, upload it (or a new version named <version>-<hash8>), "
        "create a run and print its UI link.",
    )
    _connection_args(p)
    _pipeline_args(p, "pipeline name, e.g. continuous-training")
    _run_args(p)
    p.add_argument("--run-name", help="run display name")
    p.add_argument("--wait", action="store_true", help="follow the run to its end")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (with --wait)")
    p.add_argument("--poll", type=float, default=10.0, help="seconds between polls (with --wait)")
    p.set_defaults(handler=_submit)

    p = subparsers.add_parser(
        "upload",
        help="upload a pipeline version to a KFP cluster (no run)",
        description="Compile and upload a pipeline; the same content is not uploaded twice.",
    )
    _connection_args(p)
    _pipeline_args(p, "pipeline name, e.g. retraining")
    p.set_defaults(handler=_upload)

    p = subparsers.add_parser(
        "schedule",
        help="create, list, pause, resume or delete recurring runs",
        description="Recurring runs. Create: kfp-ct schedule --host URL --pipeline retraining "
        '--cron "0 0 2 * * *". KFP cron has six fields, seconds first.',
    )
    p.add_argument("action", nargs="?", default="create", choices=SCHEDULE_ACTIONS)
    p.add_argument("target", nargs="?", help="recurring run name or id (pause/resume/delete)")
    _connection_args(p)
    _pipeline_args(p, "pipeline name to schedule, e.g. retraining")
    _run_args(p)
    p.add_argument("--cron", help='six-field cron, seconds first, e.g. "0 0 2 * * *"')
    p.add_argument("--name", help="recurring run name (default: <pipeline>-schedule)")
    p.add_argument("--max-concurrency", type=int, default=1, help="parallel runs allowed")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(handler=_schedule)


def _options(args: argparse.Namespace) -> Any:
    from kfp_ct.remote import ConnectionOptions

    if not args.host:
        raise ParameterError("no KFP host: pass --host URL (e.g. http://localhost:8080) or set KFP_CT_HOST")
    return ConnectionOptions(
        host=args.host,
        token=args.token,
        namespace=args.namespace,
        ca_cert=args.ca_cert,
        insecure_skip_tls_verify=args.insecure_skip_tls_verify,
        ui_host=args.ui_host,
    )


def _submit(args: argparse.Namespace) -> int:
    from kfp_ct.remote import parse_run_params, submit

    params = parse_run_params(args.param, args.pipeline, args.package)  # before any network call
    options = _options(args)
    uploaded, run = submit(
        options,
        args.pipeline,
        params,
        package=args.package,
        experiment=args.experiment,
        run_name=args.run_name,
        profile=args.profile,
        enable_caching=False if args.no_cache else None,
        service_account=args.service_account,
        wait=args.wait,
        timeout_s=args.timeout,
        poll_s=args.poll,
    )
    print(f"pipeline {uploaded.pipeline_name!r} version {uploaded.version_name}")
    print(run.url)
    return 0


def _upload(args: argparse.Namespace) -> int:
    from kfp_ct.remote import upload_pipeline

    result = upload_pipeline(_options(args), args.pipeline, args.package, args.profile)
    status = "uploaded" if result.created_version else "already present"
    print(f"pipeline {result.pipeline_name!r} version {result.version_name} {status}: {result.url}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from kfp_ct.remote import connect, parse_run_params, schedule, validate_cron
    from kfp_ct.remote.schedules import delete_schedule, list_schedules, set_schedule_enabled

    if args.action == "create":
        if not args.cron:
            raise ParameterError('schedule create needs --cron, e.g. --cron "0 0 2 * * *"')
        cron = validate_cron(args.cron)  # before touching the network
        params = parse_run_params(args.param, args.pipeline, args.package)
        uploaded, sched, outcome = schedule(
            _options(args),
            cron,
            args.pipeline,
            params,
            name=args.name,
            package=args.package,
            experiment=args.experiment,
            profile=args.profile,
            max_concurrency=args.max_concurrency,
            enable_caching=False if args.no_cache else None,
            service_account=args.service_account,
        )
        print(
            f"recurring run {sched.name!r} {outcome}: cron {sched.cron!r}, "
            f"pipeline {uploaded.pipeline_name!r} version {uploaded.version_name}"
        )
        return 0
    options = _options(args)
    client = connect(options)
    if args.action == "list":
        schedules = list_schedules(client, namespace=options.namespace)
        if args.json:
            print(json.dumps([s.to_dict() for s in schedules], indent=2))
        for s in [] if args.json else schedules:
            print(f"{s.name}\t{s.recurring_run_id}\t{s.cron}\t{s.mode}\t{s.status or ''}")
        return 0
    target = args.target or args.name
    if not target:
        raise ParameterError(f"schedule {args.action} needs a recurring run NAME or id")
    if args.action == "delete":
        s = delete_schedule(client, target, options.namespace)
        print(f"recurring run {s.name!r} deleted")
    else:
        s = set_schedule_enabled(client, target, args.action == "resume", options.namespace)
        print(f"recurring run {s.name!r} {'resumed' if args.action == 'resume' else 'paused'}")
    return 0
