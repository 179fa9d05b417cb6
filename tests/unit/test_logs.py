"""`kfp_ct.logs`: a step process freezes its heap at exit (once), and marks failures."""

from __future__ import annotations

import gc

import pytest

from kfp_ct import logs


def test_steps_register_the_exit_freeze_once(monkeypatch):
    registered = []
    monkeypatch.setattr(logs, "_FREEZE_REGISTERED", False)
    monkeypatch.setattr(logs.atexit, "register", registered.append)
    with logs.step_context("one"):
        pass
    with pytest.raises(ValueError), logs.step_context("two"):
        raise ValueError("bad")
    assert registered == [gc.freeze]
