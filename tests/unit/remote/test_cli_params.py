"""`kfp-ct run`, `submit` and `schedule` parse `--param` with one parser: same input, same answer.

Each command runs as a subprocess of the installed CLI. Malformed input must fail with the same
one-line message and exit code, no traceback, and before any request reaches the KFP API double.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from kfp_ct.errors import ParameterError
from kfp_ct.params import parse_params
from kfp_ct.remote import parse_run_params

CLI = str(Path(sys.executable).parent / "kfp-ct")
PIPELINE = ["--pipeline", "continuous-training"]

BAD = {
    "foo": "--param 'foo': expected key=value",
    "=x": "--param '=x': expected key=value",
    "unknown=1": "--param unknown: pipeline 'continuous-training' has no such parameter",
    "seed=abc": "--param seed='abc': expected an integer",
    "require_significance=maybe": "--param require_significance='maybe': expected true or false",
}


def _commands(host: str) -> dict[str, list[str]]:
    remote = ["--host", host, "--token", "t0ken", *PIPELINE]
    return {
        "run": [CLI, "run", *PIPELINE],
        "submit": [CLI, "submit", *remote],
        "schedule": [CLI, "schedule", "create", "--cron", "0 0 2 * * *", *remote],
    }


@pytest.mark.parametrize("pair", list(BAD))
def test_run_submit_and_schedule_reject_the_same_param_the_same_way(pair, kfp_double, tmp_path):
    env = {"PATH": str(Path(CLI).parent), "HOME": str(tmp_path), "KFP_CT_HOME": str(tmp_path / "home")}
    procs = {
        name: subprocess.Popen(
            [*argv, "--param", pair], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name, argv in _commands(kfp_double.url).items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[name] = (proc.returncode, out.decode(), err.decode())
    for name, (rc, out, err) in results.items():
        assert rc == 2, f"{name}: exit {rc}\n{err}"
        assert "Traceback" not in err and out == "", f"{name}: {out}{err}"
        assert err.count("\n") == 1 and err.startswith(f"kfp-ct: error: {BAD[pair]}"), f"{name}: {err}"
    assert len({err for _, _, err in results.values()}) == 1, results
    assert kfp_double.requests == []  # rejected before any network call
    assert list(tmp_path.iterdir()) == []  # and before anything is written


def test_a_package_types_params_by_its_own_interface(tiny_package):
    assert parse_run_params(["msg=hello", "n=3"], package=tiny_package) == {"msg": "hello", "n": 3}
    assert parse_run_params(["n=3"], pipeline="shown-name", package=tiny_package) == {"n": 3}
    with pytest.raises(ParameterError, match=r"--param n='x': expected an integer"):
        parse_run_params(["n=x"], package=tiny_package)
    with pytest.raises(
        ParameterError, match=r"pipeline 'tiny' has no such parameter \(did you mean 'msg'\?\)"
    ):
        parse_run_params(["mgs=hi"], package=tiny_package)


def test_a_named_pipeline_types_params_by_its_signature():
    assert parse_run_params(["seed=7", "alpha=0.1", "require_significance=no"], "retraining") == {
        "seed": 7,
        "alpha": 0.1,
        "require_significance": False,
    }
    assert parse_run_params(['hyperparameters={"a": 1}'], "continuous-training") == {
        "hyperparameters": '{"a": 1}'
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "name a pipeline with --pipeline NAME"),
        ({"pipeline": "nope"}, "unknown pipeline 'nope'"),
        ({"package": "/no/such.yaml"}, "--package /no/such.yaml: no such file"),
    ],
)
def test_params_need_a_known_pipeline_or_package(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        parse_run_params(["seed=1"], **kwargs)


def test_the_parser_converts_every_kfp_parameter_type():
    types = {"s": str, "i": int, "f": float, "b": bool, "l": list, "d": dict}
    pairs = ["s=a=b", "i=3", "f=1e-3", "b=YES", "l=[1, 2]", 'd={"k": 1}']
    assert parse_params(pairs, "p", types) == {
        "s": "a=b",
        "i": 3,
        "f": 0.001,
        "b": True,
        "l": [1, 2],
        "d": {"k": 1},
    }
    for pair, expected in [("i=1.5", "an integer"), ("f=x", "a number"), ("l={}", "a JSON list")]:
        with pytest.raises(ParameterError, match=f"expected {expected}"):
            parse_params([pair], "p", types)
    with pytest.raises(ParameterError, match="expected a JSON object"):
        parse_params(["d=[1]"], "p", types)


def test_compiling_an_unknown_pipeline_names_the_known_ones(tmp_path):
    from kfp_ct.pipelines import names
    from kfp_ct.remote import compile_named

    with pytest.raises(ParameterError, match="unknown pipeline 'nope'; choose one of") as info:
        compile_named("nope", tmp_path)
    assert all(name in str(info.value) for name in names())
    assert not list(tmp_path.iterdir())  # nothing compiled
