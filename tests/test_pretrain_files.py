"""The pretraining script's own files and flags: the lock, the output folder as typed, checkpoint markers, and a
stop at any stage, each in one line (the runs themselves: test_pretrain.py)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from utils.tools import pretrain
from utils.tools.checkpoints import COMPLETE, checkpoint_problem

ROOT = Path(__file__).resolve().parent.parent


def stopped(argv: list[str], capsys) -> str:
    """The one error line ``pretrain.main(argv)`` stops with (exit code 2)."""
    with pytest.raises(SystemExit) as stop:
        pretrain.main(["--profile", "smoke", *argv])
    assert stop.value.code == 2
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith(("usage:", "  "))]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("planted", [".lock", "final", "checkpoint-4"])
def test_a_link_where_the_run_writes_is_refused_and_its_target_left_alone(tmp_path, capsys, planted):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out" / "smoke").mkdir(parents=True)
    (tmp_path / "out" / "smoke" / planted).symlink_to(victim)
    line = stopped(["--output-dir", str(tmp_path / "out")], capsys)
    assert f"{tmp_path / 'out' / 'smoke' / planted} is a symbolic link" in line
    assert victim.read_text() == "precious"


def test_a_lock_file_that_is_a_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "smoke" / ".lock").mkdir(parents=True)
    line = stopped(["--output-dir", str(tmp_path)], capsys)
    assert line == (f"error: the lock file {tmp_path / 'smoke' / '.lock'} is a folder, not a file the project "
                    "wrote; refusing to use it. Remove it, then run again.")


def test_the_output_folder_is_expanded_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    run, _ = pretrain.parse_args(["--profile", "smoke", "--output-dir=~/runs"])  # bash leaves this ~ alone
    assert run.out == tmp_path / "runs" / "smoke"
    monkeypatch.chdir(tmp_path)
    run, _ = pretrain.parse_args(["--profile", "smoke", "--output-dir", "rel"])
    assert run.out == tmp_path / "rel" / "smoke" and run.out.is_absolute()


@pytest.mark.parametrize("variable", ["WORLD_SIZE", "RANK", "LOCAL_RANK"])
def test_a_launcher_variable_that_is_not_a_number_is_one_line(tmp_path, capsys, monkeypatch, variable):
    monkeypatch.setenv(variable, "abc")
    line = stopped(["--output-dir", str(tmp_path)], capsys)
    assert f"${variable}='abc' is not a whole number; torchrun and accelerate set it" in line


@pytest.mark.parametrize("flag,value,most", [("--epochs", "1e300", "10,000"), ("--batch-size", "10" * 10, "1,048,576"),
                                             ("--save-every", "1" * 30, "1,000,000,000")])
def test_a_flag_past_any_sensible_size_is_one_line(tmp_path, capsys, flag, value, most):
    line = stopped(["--output-dir", str(tmp_path), flag, value], capsys)
    assert f"at most {most}" in line and repr(value) in line


# ---- checkpoint markers are checked for their shape, and must list the weights ------------------------------------

def checkpoint(tmp_path, marker) -> Path:
    folder = tmp_path / "checkpoint-16"
    folder.mkdir()
    (folder / "trainer_state.json").write_text("{}")
    (folder / COMPLETE).write_text(marker if isinstance(marker, str) else json.dumps(marker))
    return folder


STATE = {"trainer_state.json": {"size": 2,
                                "sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}


@pytest.mark.parametrize("marker,said", [
    ({"files": ["model.safetensors"], "settings": {}}, "from an older version or a damaged one (no file list)"),
    ({"files": {"../x": {"size": 1, "sha256": "0"}}, "settings": {}}, "from an older version or a damaged one"),
    ({"files": STATE, "settings": []}, "from an older version or a damaged one"),
    ("[" * 100_000, "from an older version or a damaged one"),
    ({"files": {}, "settings": {}}, "does not list trainer_state.json, model.safetensors"),
    ({"files": STATE, "settings": {}}, "does not list model.safetensors"),
], ids=["files a list", "a path outside", "settings a list", "nested", "nothing listed", "no weights listed"])
def test_a_damaged_marker_is_a_reason_to_skip_the_checkpoint(tmp_path, marker, said):
    assert said in checkpoint_problem(checkpoint(tmp_path, marker), {})


def test_resume_skips_a_checkpoint_whose_marker_lists_no_weights(tmp_path, capsys):
    (tmp_path / "smoke").mkdir()
    folder = checkpoint(tmp_path / "smoke", {"files": {}, "settings": {}})
    with pytest.raises(SystemExit):
        pretrain.main(["--profile", "smoke", "--output-dir", str(tmp_path), "--resume"])
    assert capsys.readouterr().err.strip().splitlines() == [
        f"--resume: skipping {folder}: it has a completion marker that does not list trainer_state.json, "
        "model.safetensors.",
        f"error: --resume: {tmp_path / 'smoke'} holds no complete, intact checkpoint; run without --resume to start "
        "afresh."]


# ---- a stop at any stage is one line ------------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_before_training_begins_is_one_line(tmp_path, signum):
    """Ctrl-C or a scheduler's SIGTERM while the data is read or the time estimated."""
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "utils.tools.pretrain", "--profile", "smoke", "--output-dir",
                            str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out / "smoke" / ".lock").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signum)  # the lock is taken: the run is reading its data now
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == ("Interrupted before training began (no checkpoint was written); run the "
                                            "same command again.")
    assert "Traceback" not in err


def test_a_stop_while_the_final_model_is_saved_keeps_nothing_half_written_and_resumes(tmp_path, capsys, monkeypatch):
    from transformers import Trainer

    save = Trainer.save_model

    def interrupted(self, output_dir=None, *args, **kwargs):
        if str(output_dir).endswith("final.part"):
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            (Path(output_dir) / "model.safetensors").write_bytes(b"half")
            raise KeyboardInterrupt  # SIGTERM arrives as this
        return save(self, output_dir, *args, **kwargs)

    monkeypatch.setattr(Trainer, "save_model", interrupted)
    assert pretrain.main(["--profile", "smoke", "--output-dir", str(tmp_path)]) == 130
    last = tmp_path / "smoke" / "checkpoint-8"
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"Interrupted while saving the final model (nothing of it was kept): the last complete checkpoint is {last}; "
        "run again with --resume to save it.")
    assert sorted(p.name for p in (tmp_path / "smoke").iterdir()) == [".lock", "checkpoint-4", "checkpoint-8"]
    monkeypatch.setattr(Trainer, "save_model", save)
    assert pretrain.main(["--profile", "smoke", "--output-dir", str(tmp_path), "--resume"]) == 0
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said.startswith(f"Done: {last} already held all 8 steps, so none was left to train; valid loss ")
    assert (tmp_path / "smoke" / "final" / "model.safetensors").stat().st_size > 1000
