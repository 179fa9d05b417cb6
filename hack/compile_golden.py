#!/usr/bin/env python3
"""Write the golden compiled YAML: pipelines/<name>.yaml and components/<name>.yaml.

Usage:
    .venv/bin/python hack/compile_golden.py   # or: make golden

The pipelines are compiled for a cluster exactly as `kfp-ct compile` does (these are the files a
Kubeflow UI user uploads); each component is compiled on its own. Fields that change with the KFP
SDK version only (`sdkVersion`) are dropped, so the files change when the project does.
tests/pipelines/test_golden_yaml.py compiles again and compares.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIRS = ("pipelines", "components")

# Top-level keys whose value is the compiling SDK's version; the rest of the IR is kept verbatim
# (the files must stay uploadable, so the executor launcher KFP writes is not touched).
_SDK_VERSION_LINE = re.compile(r"^sdkVersion: .*\n", re.MULTILINE)


def normalise(text: str) -> str:
    """Drop the fields of compiled IR YAML that depend only on the KFP SDK version."""
    return _SDK_VERSION_LINE.sub("", text)


def golden_files() -> dict[str, str]:
    """Path relative to the repository root -> normalised compiled YAML, for every golden file."""
    from kfp import compiler

    from kfp_ct import components
    from kfp_ct.pipelines import compile_pipeline, names

    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="kfp-ct-golden-") as tmp:
        for name in names():
            path = compile_pipeline(name, Path(tmp) / f"{name}.yaml")
            out[f"pipelines/{name}.yaml"] = normalise(path.read_text())
        for attr in components.__all__:
            component = getattr(components, attr)
            path = Path(tmp) / f"component-{component.name}.yaml"
            compiler.Compiler().compile(component, str(path))
            out[f"components/{component.name}.yaml"] = normalise(path.read_text())
    return out


def stale_files(expected: dict[str, str]) -> list[str]:
    """Golden YAML files on disk that no pipeline or component produces any more."""
    found = {f"{d}/{p.name}" for d in GOLDEN_DIRS for p in (ROOT / d).glob("*.yaml")}
    return sorted(found - set(expected))


def main() -> int:
    """Write every golden file, remove stale ones, print what changed."""
    files = golden_files()
    for rel in stale_files(files):
        (ROOT / rel).unlink()
        print(f"removed {rel}")
    for rel, text in files.items():
        path = ROOT / rel
        changed = not path.exists() or path.read_text() != text
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"{'wrote' if changed else 'unchanged'} {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
