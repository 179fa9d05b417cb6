"""The explicit package list in pyproject.toml covers every package folder (nothing forgotten)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_dir_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for package, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            found.add(".".join((package, *rel)))
    assert found == listed, f"unlisted: {found - listed}, missing: {listed - found}"


def test_import_has_no_side_effects(tmp_path):
    """Importing the CLI, pipelines and components creates no files and parses no argv."""
    import subprocess
    import sys

    code = "import kfp_ct.cli, kfp_ct.pipelines, kfp_ct.components, kfp_ct.steps"
    subprocess.run([sys.executable, "-c", code, "--not-an-option"], check=True, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []
