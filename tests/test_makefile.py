"""The Makefile's own set-up fails in one line that says what to do, or repairs itself: a .venv whose Python is
gone is made again, an unreachable package index is named as the likely cause, and a long $TMPDIR does not make
the kernels' socket paths too long. Each test runs make on a copy of the Makefile in a scratch folder."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scratch_project(tmp_path: Path) -> Path:
    """A folder with the Makefile and the files its set-up rule depends on, and nothing else."""
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def make(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def test_a_venv_whose_python_is_gone_is_made_again_with_a_line_that_says_so(tmp_path):
    project = scratch_project(tmp_path)
    (project / ".venv/bin").mkdir(parents=True)
    (project / ".venv/bin/python").symlink_to(tmp_path / "a-python-since-removed")
    (project / ".venv/.installed").touch()
    done = make(project, "-n", "setup")
    assert done.stdout.splitlines()[0] == (".venv's Python no longer runs (was the Python that made it removed?): "
                                           "making .venv again")
    assert "python3 -m venv --clear .venv" in done.stdout  # replaces the broken one instead of failing on it
    assert not (project / ".venv/.installed").exists()


def test_a_working_venv_is_left_as_it_is(tmp_path):
    project = scratch_project(tmp_path)
    (project / ".venv/bin").mkdir(parents=True)
    (project / ".venv/bin/python").symlink_to(shutil.which("python3"))
    stamp = project / ".venv/.installed"
    stamp.touch()
    done = make(project, "-n", "-o", ".venv/.installed", "setup")
    assert "no longer runs" not in done.stdout and "-m venv" not in done.stdout
    assert stamp.exists()


def test_a_failed_install_names_the_unreachable_index_as_the_likely_cause_and_writes_no_stamp(tmp_path):
    project = scratch_project(tmp_path)
    # a Python whose venv's pip fails as pip does when no index answers
    fake_pip = ('#!/bin/sh\necho "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io" >&2\nexit 1\n')
    fake = executable(tmp_path / "fake-python", f'#!/bin/sh\nmkdir -p .venv/bin\ncat > .venv/bin/python <<"EOF"\n'
                                                f'{fake_pip}EOF\nchmod +x .venv/bin/python\n')
    done = make(project, "setup", f"PYTHON={fake}")
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert ours == ["error: pip could not install requirements.txt (its own words are above). If they say "
                    "ResolutionImpossible or \"No matching distribution\", the package index is probably out of "
                    "reach: check the network and the index settings of pip (.venv/bin/pip config list), then run "
                    "make again."]
    assert not (project / ".venv/.installed").exists()  # the next make tries again


def kernel_socket_base(project: Path, tmpdir: str) -> str:
    """The --KernelManager.ip the Makefile hands nbconvert, as the shell expands it."""
    done = make(project, "--eval", "ip: ; @printf '%s\\n' $(EXECUTE)", "ip", TMPDIR=tmpdir)
    return next(line for line in done.stdout.splitlines() if line.startswith("--KernelManager.ip="))[19:]


def test_the_kernels_sockets_live_under_tmpdir_when_it_is_short_and_under_tmp_when_it_is_long(tmp_path):
    project = scratch_project(tmp_path)
    assert kernel_socket_base(project, "/var/tmp/") == "/var/tmp/llm-tutorial-kernel"
    long = "/scratch/" + "d" * 110
    base = kernel_socket_base(project, long)
    assert base == "/tmp/llm-tutorial-kernel"
    assert len(base + "-65535") < 107  # a Unix socket's path holds at most 107 characters
