"""`python -m core`: every subcommand answers --help, and the ones no other test runs are run here on tiny settings."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request

import pytest

from core.cli import BENCHMARKS, COMMANDS, main
from core.storage import REPO_ROOT, read_json


def run_core(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT)


def test_help_lists_every_command():
    top = run_core("--help")
    assert top.returncode == 0
    for word in {name.split()[0] for name in COMMANDS}:
        assert re.search(rf"^\s+{re.escape(word)}\s", top.stdout, re.M), word
    for group, names in (("train", ["softmax", "mlp", "torch-mlp", "cnn"]), ("bench", BENCHMARKS)):
        listed = run_core(group, "--help").stdout
        assert all(re.search(rf"^\s+{re.escape(n)}\s", listed, re.M) for n in names), listed


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_its_own_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([*command.split(), "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and COMMANDS[command][2] in " ".join(out.split()), out


def test_train_torch_mlp_compares_with_a_given_numpy_run(tmp_path, capsys, mnist):
    tiny = ["--max-steps", "3", "--threads", "1", "--hidden", "16", "--seed", "0"]
    assert main(["train", "mlp", *tiny, "--out", str(tmp_path / "np")]) == 0
    assert main(["train", "torch-mlp", *tiny, "--numpy-run", str(tmp_path / "np"), "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^PyTorch\s", out, re.M) and re.search(r"^NumPy\s", out, re.M), out
    ours, theirs = read_json(tmp_path / "t" / "metrics.json"), read_json(tmp_path / "np" / "metrics.json")
    assert ours["numpy_comparison"]["test_accuracy"] == theirs["test_accuracy"]
    assert ours["steps"] == theirs["steps"] == 3 and "different config" not in out


def test_serve_web_serves_the_folder_on_localhost(tmp_path):
    (tmp_path / "index.html").write_text("<title>served</title>")
    proc = subprocess.Popen([sys.executable, "-m", "core", "serve-web", str(tmp_path), "--port", "0"],
                            stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        line = proc.stdout.readline()
        url = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        assert url, line
        with urllib.request.urlopen(f"{url[1]}/index.html", timeout=10) as r:
            assert r.status == 200 and b"<title>served</title>" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

