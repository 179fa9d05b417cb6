"""`kfp-ct monitor` and `kfp-ct feedback`: bad input is one line, exit 2, and writes nothing."""

from __future__ import annotations

import pytest

from kfp_ct.cli import main


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["monitor", "--since", "yesterday"], "is not an ISO 8601 time"),
        (["monitor", "--min-labels", "0"], "must be at least 1"),
        (["monitor", "--remote", "--host", "http://kfp:8080"], "the capture store"),
        (["feedback", "--labels", "missing.csv"], "file not found"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(tmp_path, monkeypatch, capsys, argv, fragment):
    monkeypatch.setenv("KFP_CT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KFP_CT_CAPTURE_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert not (tmp_path / "home").exists()


def test_no_traffic_says_so_and_exits_0(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KFP_CT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KFP_CT_CAPTURE_URI", str(tmp_path / "capture"))
    assert main(["monitor", "--since", "2026-01-01T00:00:00Z", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "no new traffic" in out[0]
    import json

    summary = json.loads(out[-1])
    assert summary["decision"] == "ok" and summary["rows"] == 0 and summary["window"]["until"]
