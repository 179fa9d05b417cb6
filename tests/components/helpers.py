"""Run one KFP component alone through kfp.local; make its upstream artifacts with the steps' `run`.

`run_alone(component, root, artifacts, **arguments)` puts the component in a pipeline of its own
whose only other tasks are `dsl.importer`s for its input artifacts, runs it with kfp.local's
SubprocessRunner (initialised as `kfp_ct.localrun.run_pipeline` does) and reads back what the
task wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp_ct.steps import compare, register, train, validate


@dataclass(frozen=True)
class Produced:
    """One output artifact of the task: its file (or folder) and its metadata."""

    path: Path
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Ran:
    """What a task run alone returned: parameter outputs and output artifacts."""

    parameters: dict[str, Any]
    artifacts: dict[str, Produced]


def run_alone(component, root: Path, artifacts: dict[str, tuple[Path, type]], **arguments: Any) -> Ran:
    """Run `component` as the only task of a pipeline; `artifacts`: input name -> (path, class)."""
    from kfp import dsl, local

    @dsl.pipeline(name=f"only-{component.name}")
    def only():
        inputs = {
            name: dsl.importer(artifact_uri=str(path), artifact_class=cls, reimport=False).output
            for name, (path, cls) in artifacts.items()
        }
        component(**inputs, **arguments).set_caching_options(False)

    root.mkdir(parents=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    only()
    [run_dir] = [p for p in root.iterdir() if p.is_dir()]
    written = json.loads((run_dir / component.name / "executor_output.json").read_text())
    produced = {
        name: Produced(Path(entry["artifacts"][0]["uri"]), entry["artifacts"][0].get("metadata", {}))
        for name, entry in written.get("artifacts", {}).items()
    }
    return Ran(written.get("parameterValues", {}), produced)


def train_here(validated: validate.ValidatePaths, model: Path) -> train.TrainOutput:
    """Train a small model with the train step's `run`, logged in the current KFP_CT_HOME."""
    params = train.TrainParams(hyperparameters={"max_iter": 20}, seed=3, pipeline_run_id="upstream")
    paths = train.TrainPaths(train_set=validated.train_set, schema=validated.schema, model=model)
    return train.run(params, paths)


def register_here(trained: train.TrainOutput, name: str, decision_record: Path) -> str:
    """Register a trained model under `name` with the register step's `run`; return its version."""
    params = register.RegisterParams(model_name=name, model_uri=trained.model_uri, run_id=trained.run_id)
    return register.run(params, register.RegisterPaths(decision_record=decision_record)).model_version


def compare_here(
    validated: validate.ValidatePaths, model: Path, name: str, work: Path
) -> compare.ComparePaths:
    """Compare `model` against `name`'s champion with the compare step's `run`; return its files."""
    paths = compare.ComparePaths(
        model=model,
        test_set=validated.test_set,
        schema=validated.schema,
        decision_record=work / "decision.json",
        report=work / "compare.md",
    )
    compare.run(compare.CompareParams(model_name=name, n_bootstrap=200), paths)
    return paths
