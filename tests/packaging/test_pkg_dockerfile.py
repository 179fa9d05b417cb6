"""Dockerfile: hadolint-clean, slim pinned base, non-root, pinned install, small build context."""

from __future__ import annotations

import fnmatch
import re
import shlex

from tests.packaging.pkg_support import ROOT, find_tool, run

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint():
    hadolint = find_tool("hadolint")
    proc = run([hadolint, "--failure-threshold", "info", DOCKERFILE], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_slim_pinned_base_and_non_root_user():
    ins = _instructions()
    args = dict(a.split("=", 1) for w, a in ins if w == "ARG" and "=" in a)
    bases = [a.split()[0] for w, a in ins if w == "FROM"]
    assert len(bases) == 2, "a build stage and a runtime stage"
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)
        name, _, tag = image.partition(":")
        assert name == "python" and "slim" in tag and tag != "latest", image
    users = [a for w, a in ins if w == "USER"]
    assert users == ["1000:1000"], "numeric non-root user, so runAsNonRoot can verify it"
    runtime = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM") :]
    assert any(w == "RUN" and "useradd" in a and "--uid 1000" in a for w, a in runtime)


def test_install_uses_constraints_and_no_network_at_start():
    ins = _instructions()
    installs = [a for w, a in ins if w == "RUN" and "pip install" in a]
    assert len(installs) == 1
    words = shlex.split(installs[0].split("&&")[0])
    assert words[:4] == ["pip", "install", "-c", "constraints.txt"]
    constraints = {
        line.split("==")[0].lower() for line in (ROOT / "constraints.txt").read_text().splitlines()
    }
    for extra in words[5:]:
        assert extra.lower() in constraints, f"{extra} is not pinned in constraints.txt"
    env = " ".join(a for w, a in ins if w == "ENV")
    assert "PIP_NO_INDEX=1" in env
    assert not [a for w, a in ins if w == "ENTRYPOINT"], "KFP and KServe set their own command"


def test_copied_paths_exist_and_pass_dockerignore():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern):
                keep = negate
        return keep

    copies = [a for w, a in _instructions() if w == "COPY" and "--from" not in a]
    sources = [s for a in copies for s in shlex.split(a)[:-1]]
    assert {"pyproject.toml", "constraints.txt", "src"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: missing in the repository"
        assert included(source), f"COPY {source}: excluded by .dockerignore"
    assert not included(".venv") and not included(".git") and not included("tests")


def test_make_image_tags_the_package_version():
    proc = run(["make", "-n", "image"], cwd=ROOT)
    assert "docker build -t ghcr.io/kfp-ct/kfp-ct:0.1.0 ." in proc.stdout
