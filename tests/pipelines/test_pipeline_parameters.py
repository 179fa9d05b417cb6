"""Retraining takes every continuous-training parameter, with the same type, default and help.

Both pipelines get their signatures from `kfp_ct.pipelines.parameters`; these tests hold that
in the compiled IR (what KFP and its UI read) and in the Python signatures (what `kfp-ct run`
and `--param` typing read), so a pipeline that stops sharing the declaration fails here.
"""

import copy
import dataclasses
import inspect

import pytest
import yaml

from kfp_ct.pipelines import compile_pipeline, get_pipeline
from kfp_ct.pipelines.parameters import DriftParams, NotificationParams, TrainingParams

CT, RT, MON = "continuous-training", "retraining", "monitoring"


@pytest.fixture(scope="module")
def ir_parameters(tmp_path_factory):
    """Pipeline name -> `root.inputDefinitions.parameters` of its compiled IR."""
    out = tmp_path_factory.mktemp("ir")
    specs = {}
    for name in (CT, RT, MON):
        spec = next(yaml.safe_load_all(compile_pipeline(name, out / f"{name}.yaml").read_text()))
        specs[name] = spec["root"]["inputDefinitions"]["parameters"]
    return specs


def _signature(name):
    return inspect.signature(get_pipeline(name).pipeline_func)


def ir_differences(ct: dict, rt: dict) -> list[str]:
    """What retraining's IR parameters lack or change of continuous-training's."""
    problems = []
    for key, spec in sorted(ct.items()):
        if key not in rt:
            problems.append(f"{key}: missing from {RT}")
        elif rt[key] != spec:
            problems.append(f"{key}: {CT} {spec} != {RT} {rt[key]}")
    return problems


def signature_differences(ct: inspect.Signature, rt: inspect.Signature) -> list[str]:
    """What retraining's Python signature lacks or changes of continuous-training's."""
    problems = []
    for key, param in ct.parameters.items():
        other = rt.parameters.get(key)
        if other is None:
            problems.append(f"{key}: missing from {RT}")
        elif (other.annotation, other.default, other.kind) != (param.annotation, param.default, param.kind):
            problems.append(f"{key}: {CT} {param} != {RT} {other}")
    return problems


def test_retraining_ir_has_every_training_parameter_unchanged(ir_parameters):
    assert ir_differences(ir_parameters[CT], ir_parameters[RT]) == []


def test_monitoring_ir_has_every_retraining_parameter_but_the_window(ir_parameters):
    rt = {k: v for k, v in ir_parameters[RT].items() if k != "data_uri"}
    assert ir_differences(rt, ir_parameters[MON]) == []
    assert ir_parameters[MON]["data_uri"]["defaultValue"] == ""
    assert {"capture_uri", "since", "min_labels", "max_error_rate"} <= set(ir_parameters[MON])


def test_retraining_signature_has_every_training_parameter_unchanged():
    assert signature_differences(_signature(CT), _signature(RT)) == []
    assert (
        _signature(CT).return_annotation is _signature(RT).return_annotation
    )  # no outputs: the body runs in an ExitHandler


def test_the_checks_catch_a_missing_or_changed_parameter(ir_parameters):
    """The comparisons above can fail: doctor retraining's interface and they report it."""
    ct, rt = ir_parameters[CT], copy.deepcopy(ir_parameters[RT])
    rt["seed"]["defaultValue"] = 7
    rt["alpha"]["parameterType"] = "STRING"
    del rt["guardrails"]
    assert [p.split(":")[0] for p in ir_differences(ct, rt)] == ["alpha", "guardrails", "seed"]

    sig = _signature(RT)
    params = {k: p for k, p in sig.parameters.items() if k != "guardrails"}
    params["seed"] = params["seed"].replace(default=7)
    params["alpha"] = params["alpha"].replace(annotation=str)
    doctored = sig.replace(parameters=list(params.values()))
    assert sorted(p.split(":")[0] for p in signature_differences(_signature(CT), doctored)) == [
        "alpha",
        "guardrails",
        "seed",
    ]


def test_parameters_are_the_declared_ones(ir_parameters):
    training = [f.name for f in dataclasses.fields(TrainingParams)]
    drift = [f.name for f in dataclasses.fields(DriftParams)]
    notify = [f.name for f in dataclasses.fields(NotificationParams)]
    assert list(_signature(CT).parameters) == training + notify
    assert list(_signature(RT).parameters) == training + drift + notify
    assert set(ir_parameters[CT]) == set(training + notify)
    assert set(ir_parameters[RT]) == set(training + drift + notify)


@pytest.mark.parametrize("name", [CT, RT])
def test_ir_defaults_types_and_help_come_from_the_declaration(ir_parameters, name):
    ir_type = {str: "STRING", int: "NUMBER_INTEGER", float: "NUMBER_DOUBLE", bool: "BOOLEAN"}
    groups = (
        (TrainingParams, NotificationParams)
        if name == CT
        else (TrainingParams, DriftParams, NotificationParams)
    )
    for group in groups:
        for f in dataclasses.fields(group):
            spec = ir_parameters[name][f.name]
            assert spec["parameterType"] == ir_type[_signature(name).parameters[f.name].annotation], f.name
            assert spec["description"] == f.metadata["doc"] and f.metadata["doc"], f.name
            if f.default is dataclasses.MISSING:
                assert "defaultValue" not in spec and not spec.get("isOptional"), f.name
            else:
                assert spec["defaultValue"] == f.default and spec["isOptional"], f.name


def test_only_data_uri_is_required():
    required = [k for k, p in _signature(RT).parameters.items() if p.default is inspect.Parameter.empty]
    assert required == ["data_uri"]
