"""The compiled pipelines and components match the golden YAML under pipelines/ and components/.

The golden files are what a Kubeflow UI user uploads; a change to a pipeline, a component's
interface or its embedded source shows up as a diff here. Regenerate them with
`python hack/compile_golden.py` (or `make golden`) and review the diff.
"""

import difflib
from pathlib import Path

import pytest
from kfp import components

from hack.compile_golden import ROOT, golden_files, normalise, stale_files

REGENERATE = "run `python hack/compile_golden.py` (or `make golden`) and review the diff"


@pytest.fixture(scope="module")
def compiled():
    return golden_files()


def test_golden_files_exist_for_every_pipeline_and_component(compiled):
    assert {rel.split("/")[0] for rel in compiled} == {"pipelines", "components"}
    missing = sorted(rel for rel in compiled if not (ROOT / rel).is_file())
    assert not missing, f"no golden file for {missing}: {REGENERATE}"
    assert stale_files(compiled) == [], f"golden files nothing compiles to any more: {REGENERATE}"


def test_compiled_yaml_matches_the_golden_files(compiled):
    diffs = []
    for rel, text in sorted(compiled.items()):
        path = ROOT / rel
        if not path.is_file():
            continue  # reported by the test above
        golden = normalise(path.read_text())
        if golden != text:
            diffs.extend(
                difflib.unified_diff(
                    golden.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{rel} (golden)",
                    tofile=f"{rel} (compiled now)",
                )
            )
    assert not diffs, f"compiled YAML differs from the golden files; {REGENERATE}\n" + "".join(diffs)


def test_normalising_drops_only_the_sdk_version(compiled):
    text = compiled["pipelines/continuous-training.yaml"]
    assert "sdkVersion" not in text and "schemaVersion: 2.1.0" in text
    assert normalise("a: 1\nsdkVersion: kfp-9.9.9\nb: 2\n") == "a: 1\nb: 2\n"


@pytest.mark.parametrize("rel", ["pipelines/continuous-training.yaml", "pipelines/retraining.yaml"])
def test_golden_pipelines_load_back_with_the_sdk(rel):
    """Without sdkVersion the files are still valid IR (what the UI upload reads)."""
    loaded = components.load_component_from_file(str(ROOT / rel))
    assert loaded.name == Path(rel).stem
