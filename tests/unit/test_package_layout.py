"""Every package folder is a package that setuptools finds, and importing has no side effects."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "kfp_ct"


def test_every_code_folder_is_a_package():
    from setuptools import find_packages

    found = set(find_packages(ROOT / "src"))
    folders = {
        ".".join(("kfp_ct", *p.parent.relative_to(SRC).parts))
        for p in SRC.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert folders <= found, f"folders with code but no __init__.py: {sorted(folders - found)}"


def test_import_has_no_side_effects(tmp_path):
    """Importing the CLI, pipelines, components and steps creates no files and parses no argv."""
    import subprocess
    import sys

    code = (
        "import kfp_ct.cli, kfp_ct.pipelines, kfp_ct.components, kfp_ct.steps.validate, "
        "kfp_ct.steps.train, kfp_ct.steps.deploy, kfp_ct.steps.drift_check"
    )
    subprocess.run([sys.executable, "-c", code, "--not-an-option"], check=True, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []
