"""Atomic writes: a reader sees the old file or the new one, never half; failures are one-line errors."""

import os

import numpy as np
import pytest

from core import storage
from core.errors import UserError


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a" / "b.json"
    storage.atomic_write_json(path, {"x": 1})
    storage.atomic_write_json(path, {"x": 2})
    assert storage.read_json(path) == {"x": 2}
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~storage._UMASK)
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "weights.npz"
    storage.atomic_save_npz(path, W=np.ones(3))

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "replace", boom)
    with pytest.raises(UserError, match="cannot write .*weights.npz: No space left on device"):
        storage.atomic_save_npz(path, W=np.zeros(3))
    monkeypatch.undo()
    with np.load(path) as z:
        np.testing.assert_array_equal(z["W"], np.ones(3))
    assert os.listdir(tmp_path) == ["weights.npz"]


def test_interrupt_during_write_leaves_no_debris(tmp_path, monkeypatch):
    monkeypatch.setattr(storage.os, "fsync", lambda fd: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        storage.atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert os.listdir(tmp_path) == []


def test_unwritable_places_are_one_line_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot write to directory"):
        storage.ensure_dir(blocker / "sub")
    with pytest.raises(UserError, match="cannot write to directory"):
        storage.atomic_write_bytes(blocker / "sub" / "x", b"1")


def test_read_json_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match="contract not found"):
        storage.read_json(tmp_path / "nope.json", "contract")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="bad.json is not valid JSON"):
        storage.read_json(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(UserError, match="does not hold a JSON object"):
        storage.read_json(tmp_path / "list.json")


def test_new_run_dir_is_fresh_and_under_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_RUNS_DIR", str(tmp_path))
    a, b = storage.new_run_dir("mlp"), storage.new_run_dir("mlp")
    assert a != b and a.parent == tmp_path and a.name.startswith("mlp-")
