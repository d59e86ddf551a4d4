"""The pretraining script runs end to end in the smoke profile; bad settings fail with one clear message."""

import contextlib
import io
import logging
import math
import os
import random
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict
from safetensors.torch import load_file

from utils import pretraining
from utils.profiles import PRETRAINING, choose_profile
from utils.support.callbacks import PlainForwardAfterTraining, ReuseFreedMemory
from utils.tools import pretrain


def test_smoke_profile_trains_and_saves(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LLM_TUTORIAL_DEVICE", "cpu")
    assert pretrain.main(["--profile", "smoke", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Profile smoke:" in out and "estimated" in out and "Done in" in out
    final = tmp_path / "smoke" / "final"
    assert (final / "model.safetensors").is_file() and (final / "config.json").is_file()
    assert (final / "tokenizer.json").is_file()


def test_unknown_profile_is_one_clear_error(capsys):
    with pytest.raises(SystemExit):
        pretrain.main(["--profile", "huge"])
    assert "Unknown profile 'huge'. Choose one of: smoke, classroom, full" in capsys.readouterr().err


def _corpus(train_text):
    return DatasetDict(train=Dataset.from_dict({"text": [train_text]}),
                       valid=Dataset.from_dict({"text": ["Some validation text. " * 100]}))


def test_a_corpus_too_small_for_one_chunk(gpt2_tokenizer):
    _, profile = choose_profile(PRETRAINING, "smoke")
    with pytest.raises(ValueError, match="No text gives a full chunk of 128 tokens"):
        pretraining.tokenize_corpus(_corpus("Too short."), gpt2_tokenizer, profile)


def test_a_context_longer_than_the_model_allows(gpt2_tokenizer):
    _, profile = choose_profile(PRETRAINING, "smoke")
    with pytest.raises(ValueError, match="longer than this model's maximum of 1024"):
        pretraining.tokenize_corpus(_corpus("Text. " * 3000), gpt2_tokenizer, profile | {"context_length": 2048})


def test_config_follows_tokenizer_and_profile(gpt2_tokenizer):
    _, profile = choose_profile(PRETRAINING, "full")
    config = pretraining.gpt2_config(gpt2_tokenizer, profile)
    assert (config.vocab_size, config.n_positions, config.n_layer, config.n_embd) == (50257, 128, 12, 768)
    assert config.bos_token_id == config.eos_token_id == 50256
    assert (config.resid_pdrop, config.embd_pdrop, config.attn_pdrop) == (0.0, 0.0, 0.0)


def test_dropout_is_a_profile_setting(gpt2_tokenizer):
    _, profile = choose_profile(PRETRAINING, "smoke")
    config = pretraining.gpt2_config(gpt2_tokenizer, profile | {"dropout": 0.1})
    assert (config.resid_pdrop, config.embd_pdrop, config.attn_pdrop) == (0.1, 0.1, 0.1)
    model = pretraining.new_gpt2(config).train()
    ids = torch.tensor([[464, 3290, 318, 257]])
    assert not torch.equal(model(ids).logits, model(ids).logits)  # random masks: two passes differ
    model = pretraining.new_gpt2(pretraining.gpt2_config(gpt2_tokenizer, profile)).train()
    assert torch.equal(model(ids).logits, model(ids).logits)


def test_evaluation_subset_is_a_new_seeded_draw(gpt2_tokenizer):
    _, profile = choose_profile(PRETRAINING, "smoke")
    chunks = DatasetDict(train=Dataset.from_dict({"input_ids": [[1] * 4] * 3}),
                         valid=Dataset.from_dict({"input_ids": [[i] * 4 for i in range(40)]}))
    first = pretraining.evaluation_subset(chunks, profile)
    assert len(first["valid"]) == profile["eval_chunks"] == 16 and len(chunks["valid"]) == 40  # not changed in place
    assert pretraining.evaluation_subset(chunks, profile)["valid"]["input_ids"] == first["valid"]["input_ids"]


def test_resuming_re_ties_the_output_layer_without_a_warning(gpt2_tokenizer, tmp_path, caplog):
    """Checkpoints store the tied lm_head once; resuming must re-tie it, not warn that it is missing."""
    from transformers import Trainer

    _, profile = choose_profile(PRETRAINING, "smoke")
    gpt2_tokenizer.pad_token = gpt2_tokenizer.eos_token
    ids = gpt2_tokenizer("A short text to learn. " * 200)["input_ids"]
    chunks = Dataset.from_dict({"input_ids": [ids[i:i + 128] for i in range(0, 128 * 8, 128)]})
    splits = DatasetDict(train=chunks, valid=chunks)
    config = pretraining.gpt2_config(gpt2_tokenizer, profile)
    args = pretraining.training_arguments(profile | {"epochs": 1}, tmp_path, "cpu", eval_strategy="no",
                                       save_strategy="steps", save_steps=10**9, use_cpu=True, bf16=False)
    first = pretraining.make_trainer(pretraining.new_gpt2(config), args, splits, gpt2_tokenizer)
    first.train()
    more = pretraining.training_arguments(profile | {"epochs": 2}, tmp_path, "cpu", eval_strategy="no",
                                       save_strategy="no", use_cpu=True, bf16=False)
    resumed = pretraining.make_trainer(pretraining.new_gpt2(config), more, splits, gpt2_tokenizer)
    assert isinstance(resumed, Trainer)
    with caplog.at_level("WARNING"):
        resumed.train(resume_from_checkpoint=str(tmp_path / f"checkpoint-{first.state.global_step}"))
    assert "missing keys" not in caplog.text
    model = resumed.model
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    assert resumed.state.global_step == 2 * first.state.global_step


# --------------------------------------------------------------------------------------------
# The script as a process: killed and resumed, interrupted, and on two processes
# --------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


SCRIPT_SETTINGS = {"HF_HUB_OFFLINE": "1", "LLM_TUTORIAL_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}  # offline, CPU, 1 core


def script_env() -> dict[str, str]:
    return dict(os.environ, **SCRIPT_SETTINGS)


def script(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "utils.tools.pretrain", "--profile", "smoke", "--output-dir", str(out), *extra]


def run_here(*argv: str) -> tuple[int, str, str]:
    """The script's main() in this process, with SCRIPT_SETTINGS as its processes get them, without starting an
    interpreter and importing torch and transformers again (4 s each); (exit code, stdout, stderr)."""
    import datasets
    import transformers

    out, err, threads = io.StringIO(), io.StringIO(), torch.get_num_threads()
    # what main() sets for the whole process (seeds, progress bars), given back so the tests after it see this
    # process as it was
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    bars = datasets.is_progress_bar_enabled(), transformers.utils.logging.is_progress_bar_enabled()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for name, value in SCRIPT_SETTINGS.items():
            env.setenv(name, value)
        torch.set_num_threads(int(SCRIPT_SETTINGS["OMP_NUM_THREADS"]))  # the OpenMP pool is already started
        try:
            code = pretrain.main(["--profile", "smoke", *argv])
        except SystemExit as stopped:
            code = stopped.code
        finally:
            torch.set_num_threads(threads)
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
            datasets.enable_progress_bars() if bars[0] else datasets.disable_progress_bars()
            (transformers.utils.logging.enable_progress_bar if bars[1] else
             transformers.utils.logging.disable_progress_bar)()
    return code, out.getvalue(), err.getvalue()


def start_and_wait_for_checkpoint(command, out: Path, at_least: int) -> subprocess.Popen:
    """Start ``command`` and return once it has completed a checkpoint of step ``at_least`` or later."""
    proc = subprocess.Popen(command, env=script_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        last = pretrain.last_complete_checkpoint(out / "smoke")
        if last is not None and int(last.name.split("-")[1]) >= at_least:
            return proc
        assert proc.poll() is None, f"the run ended before a checkpoint of step {at_least}: {proc.communicate()}"
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("no checkpoint within 120 s")


def final_weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "smoke" / "final" / "model.safetensors")


def last_summary(stdout: str) -> str:
    return [line for line in stdout.splitlines() if line.startswith("step ")][-1]


def test_a_killed_run_resumes_to_the_same_weights_and_loss(tmp_path):
    """SIGKILL mid-training, then --resume: the same final weights and last losses as a run never stopped."""
    steps = ["--epochs", "12", "--save-every", "2"]  # 24 steps, a checkpoint every 2
    # the uninterrupted run beside the one to kill (one thread each, so the two do not slow each other down)
    whole_run = subprocess.Popen(script(tmp_path / "whole", *steps), env=script_env(), cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = start_and_wait_for_checkpoint(script(tmp_path / "killed", *steps), tmp_path / "killed", at_least=6)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "smoke" / "final").exists()
    stopped_at = pretrain.last_complete_checkpoint(tmp_path / "killed" / "smoke")
    # resumed in this process: from the checkpoint's files and random states alone, as a new process would
    log_level = logging.getLogger("transformers.trainer_utils").level
    try:
        code, resumed, err = run_here("--output-dir", str(tmp_path / "killed"), *steps, "--resume")
    except BaseException:
        whole_run.kill()
        whole_run.communicate()
        raise
    assert code == 0, err[-3000:]
    assert logging.getLogger("transformers.trainer_utils").level == log_level  # quietened for the resume only
    whole = subprocess.CompletedProcess(whole_run.args, 0, *whole_run.communicate(timeout=300))
    assert whole_run.returncode == 0, whole.stderr[-3000:]
    assert f"resuming from {stopped_at}" in resumed
    assert last_summary(resumed).split("samples/s")[0].rsplit("  ", 1)[0] == \
        last_summary(whole.stdout).split("samples/s")[0].rsplit("  ", 1)[0]  # step 24/24, train and valid loss
    a, b = final_weights(tmp_path / "whole"), final_weights(tmp_path / "killed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the steps this session took, which samples/s counts (pretrain.session_rate; the Trainer's own figure counted
    # the skipped ones too)
    assert f"24 steps ({24 - pretrain.step_of(stopped_at)} in this session)" in resumed, resumed[-2000:]


def test_samples_per_second_count_the_steps_of_this_session():
    """After a resume the rate counts only this session's steps, not every step since step 0."""
    assert pretrain.session_rate(18, 8, 1, 2.0) == 72.0  # 18 steps of 8 chunks in 2 s, not 24 steps
    assert pretrain.session_rate(6, 8, 2, 3.0) == 32.0  # two processes: 16 chunks a step
    assert pretrain.session_rate(0, 8, 1, 0.0) == 0.0


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A smoke run of 4 steps with a complete checkpoint every 2."""
    out = tmp_path_factory.mktemp("finished")
    code, _, err = run_here("--output-dir", str(out), "--epochs", "2", "--save-every", "2")
    assert code == 0, err[-3000:]
    return out


def resume_error(folder: Path, capsys, *extra: str) -> str:
    """The one line ``--resume`` stops with (exit code 2), run in this process: it stops before any training."""
    with pytest.raises(SystemExit) as stopped:
        pretrain.main(["--profile", "smoke", "--output-dir", str(folder), "--resume", *extra])
    assert stopped.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def copy_of(finished_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    import shutil

    shutil.copytree(finished_run, tmp_path / "run")
    return tmp_path / "run", pretrain.last_complete_checkpoint(tmp_path / "run" / "smoke")


def damage_file(path: Path, damage: str) -> None:
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[:100]))
    elif damage == "delete":
        path.unlink()
    else:
        data[-10] ^= 1
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncate", "delete", "same size"])
def test_resume_refuses_when_every_checkpoint_is_damaged(finished_run, tmp_path, capsys, damage):
    run, checkpoint = copy_of(finished_run, tmp_path)
    every = sorted((run / "smoke").glob("checkpoint-*"))
    assert len(every) == 2
    for folder in every:
        damage_file(folder / "optimizer.pt", damage)
    with pytest.raises(SystemExit) as stopped:
        pretrain.main(["--profile", "smoke", "--output-dir", str(run), "--resume", "--epochs", "2"])
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    said = "lacks optimizer.pt" if damage == "delete" else "has a changed or truncated optimizer.pt"
    assert lines[0] == f"--resume: skipping {checkpoint}: it {said}."  # newest first
    assert lines[-1] == (f"error: --resume: {run / 'smoke'} holds no complete, intact checkpoint; run without "
                         "--resume to start afresh.")


def test_resume_skips_a_damaged_checkpoint_for_the_one_before(finished_run, tmp_path):
    """A damaged checkpoint gives one clear error, never a deep traceback or a silently fresh optimizer."""
    run, checkpoint = copy_of(finished_run, tmp_path)
    damage_file(checkpoint / "model.safetensors", "truncate")
    (run / "smoke" / "final").rename(run / "smoke" / "final-before")
    code, stdout, stderr = run_here("--output-dir", str(run), "--resume", "--epochs", "2")  # as the finished run
    assert code == 0, stderr[-3000:]
    assert f"--resume: skipping {checkpoint}: it has a changed or truncated model.safetensors." in stderr
    earlier = run / "smoke" / "checkpoint-2"
    assert f"resuming from {earlier}" in stdout and "steps (2 in this session)" in stdout
    a, b = (load_file(run / "smoke" / name / "model.safetensors") for name in ("final", "final-before"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same weights as the run that was never stopped


def test_resuming_a_finished_run_says_so(finished_run, tmp_path, capsys):
    run, _ = copy_of(finished_run, tmp_path)
    assert pretrain.main(["--profile", "smoke", "--output-dir", str(run), "--resume", "--epochs", "2"]) == 0
    assert capsys.readouterr().out.strip() == (f"This run is already finished: 4 steps, the model is in "
                                               f"{run / 'smoke' / 'final'}. Nothing to resume; run without --resume "
                                               "(or with more --epochs in another --output-dir) to train again.")


def test_a_full_disk_while_a_checkpoint_is_written_leaves_no_unmarked_checkpoint(tmp_path, monkeypatch, capsys):
    """A full disk mid-checkpoint gives one line and leaves no unmarked checkpoint folder behind."""
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        real_save({"part": 1}, f)  # something is written before the disk is full
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 6784 vs 6676")

    monkeypatch.setattr(torch, "save", full_disk)
    code = pretrain.main(["--profile", "smoke", "--output-dir", str(tmp_path), "--epochs", "1", "--save-every", "1"])
    assert code == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: could not write checkpoint-1 in {tmp_path / 'smoke'} ([enforce fail")
    assert line.endswith("free some space (or choose another --output-dir), then run again with --resume.")
    assert not list((tmp_path / "smoke").glob("checkpoint-*")) and not (tmp_path / "smoke" / "final").exists()


def test_a_different_save_every_applies_after_a_resume():
    """--save-every wins over the save_steps stored in the checkpoint being resumed."""
    state = types.SimpleNamespace(save_steps=1)
    pretrain.MarkComplete().on_train_begin(types.SimpleNamespace(save_steps=4), state, None)
    assert state.save_steps == 4


@pytest.mark.parametrize("epochs,steps", [(1e-9, 1), (0.5, 2), (1.5, 5), (2, 6)])
def test_total_steps_counts_a_fraction_of_an_epoch_as_the_trainer_does(epochs, steps):
    """A fraction of an epoch counts whole steps (at least one), as ints: --epochs 1e-9 is 1 step."""
    chunks = DatasetDict(train=Dataset.from_dict({"input_ids": [[0]] * 10}))
    assert pretraining.total_steps(chunks, {"batch_size": 4, "epochs": epochs}) == steps


@pytest.mark.parametrize("extra,changed", [(["--epochs", "3"], "epochs 2.0 -> 3.0"),
                                           (["--epochs", "2", "--batch-size", "4"], "batch_size 8 -> 4")])
def test_resume_refuses_other_settings(finished_run, tmp_path, capsys, extra, changed):
    """Resuming with other settings (--epochs, --batch-size) is refused: the schedule would match neither run."""
    run, checkpoint = copy_of(finished_run, tmp_path)
    line = resume_error(run, capsys, *extra)
    assert f"was saved with other settings ({changed})" in line and "start afresh in another --output-dir" in line


def test_resume_refuses_an_old_style_marker(finished_run, tmp_path, capsys):
    run, checkpoint = copy_of(finished_run, tmp_path)
    for folder in (run / "smoke").glob("checkpoint-*"):
        (folder / pretrain.COMPLETE).write_text("step 4\n")
    with pytest.raises(SystemExit):
        pretrain.main(["--profile", "smoke", "--output-dir", str(run), "--resume", "--epochs", "2"])
    assert f"--resume: skipping {checkpoint}: it has a completion marker from an older version or a damaged one " \
           "(no file list)." in capsys.readouterr().err


def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    """Two runs into one folder cannot overwrite each other's checkpoints."""
    first = start_and_wait_for_checkpoint(script(tmp_path, "--epochs", "12", "--save-every", "2"), tmp_path, 2)
    first.send_signal(signal.SIGSTOP)  # paused, so still running and holding its lock
    try:
        code, _, err = run_here("--output-dir", str(tmp_path), "--epochs", "12")  # the second run
    finally:
        first.kill()
        first.communicate()
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"error: another run (pid {first.pid}) is writing into {tmp_path / 'smoke'}; wait for it to end or choose "
        "another --output-dir.")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C, and a scheduler's preemption
def test_ctrl_c_says_where_the_last_checkpoint_is(tmp_path, stop):
    # 200 steps: far more than the test waits for, so a run that ignored the signal shows as such (exit 0 or a
    # timeout), never as a run that happened to finish first
    run = start_and_wait_for_checkpoint(script(tmp_path, "--epochs", "100", "--save-every", "2"), tmp_path, 4)
    run.send_signal(stop)
    try:
        out, err = run.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        run.kill()
        out, err = run.communicate()
    assert run.returncode == 130, f"exit {run.returncode}\nstdout:\n{out[-1500:]}\nstderr:\n{err[-1500:]}"
    line = err.strip().splitlines()[-1]
    assert line.startswith("Interrupted at step ") and "the last complete checkpoint is " in line
    assert line.endswith("add --resume to continue from it.")
    named = Path(line.split("the last complete checkpoint is ")[1].split(";")[0])
    assert (named / pretrain.COMPLETE).is_file()


def test_two_processes_with_torchrun_take_half_the_steps(tmp_path):
    """torchrun, 2 CPU processes (gloo): world size 2, half a single process's optimizer steps, one saved model."""
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
                          "utils.tools.pretrain", "--profile", "smoke", "--output-dir", str(tmp_path)],
                         env=script_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    _, profile = choose_profile(PRETRAINING, "smoke")
    chunks = int(run.stdout.split(" train chunks")[0].rsplit(" ", 1)[1])
    single = math.ceil(chunks / profile["batch_size"]) * profile["epochs"]
    shown = f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    assert "world size 2" in run.stdout and f"{single // 2} steps;" in run.stdout, shown
    assert run.stdout.count("Done in ") == 1 and f", {single // 2} steps:" in run.stdout, shown
    assert sorted(p.name for p in tmp_path.joinpath("smoke").iterdir() if p.name == "final") == ["final"]
    assert (tmp_path / "smoke" / "final" / "model.safetensors").is_file()
    assert "find_unused_parameters" not in run.stderr, shown


# --------------------------------------------------------------------------------------------
# Two "nodes" on this machine: torchrun --nnodes 2 with a c10d rendezvous, as a second machine would join
# --------------------------------------------------------------------------------------------

TWO_NODE_STEPS = ["--epochs", "12", "--save-every", "2"]  # 15 chunks: 12 steps on 2 processes, a checkpoint every 2


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(out: Path, port: int, *extra: str) -> subprocess.Popen:
    """One node's torchrun: 1 process, joining the run at ``port`` (the first node started hosts it)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "test",
               "-m", "utils.tools.pretrain", "--profile", "smoke", "--output-dir", str(out), *TWO_NODE_STEPS, *extra]
    return subprocess.Popen(command, env=script_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def start_two_nodes(out: Path, *extra: str) -> list[subprocess.Popen]:
    port = free_port()
    first = start_node(out, port, *extra)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the first node hosts the rendezvous; the second joins it
        try:
            __import__("socket").create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert first.poll() is None, first.communicate()
            time.sleep(0.1)
    return [first, start_node(out, port, *extra)]


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started (torchrun starts its workers in sessions of their own)."""
    import psutil

    parent = psutil.Process(pid)
    for process in [parent, *parent.children(recursive=True)]:
        process.kill()


def finish(nodes: list[subprocess.Popen]) -> tuple[str, str]:
    """Both nodes' stdout and stderr, each joined; fails unless both succeeded."""
    outs = [node.communicate(timeout=300) for node in nodes]
    for node, (stdout, stderr) in zip(nodes, outs):
        assert node.returncode == 0, f"stdout:\n{stdout[-2000:]}\nstderr:\n{stderr[-3000:]}"
    return "".join(o for o, _ in outs), "".join(e for _, e in outs)


def done_line(stdout: str) -> tuple[int, float, float]:
    """(steps, train loss, valid loss) of the one ``Done in`` line."""
    [line] = [line for line in stdout.splitlines() if line.startswith("Done in ")]
    steps = int(line.split(" steps:")[0].rsplit(" ", 1)[1])
    train = float(line.split("train loss ")[1].split(",")[0])
    valid = float(line.split("valid loss ")[1].split(",")[0])
    return steps, train, valid


@pytest.fixture(scope="module")
def two_node_run(tmp_path_factory):
    """An uninterrupted two-node run, and beside it (in this process, while the nodes train) one process with the
    doubled batch."""
    tmp = tmp_path_factory.mktemp("two-nodes")
    nodes = start_two_nodes(tmp / "two")
    try:
        code, single_out, single_err = run_here("--output-dir", str(tmp / "one"), *TWO_NODE_STEPS, "--batch-size",
                                                "16")
    except BaseException:
        for node in nodes:  # in sessions of their own: they would outlive the test
            kill_tree(node.pid)
        raise
    stdout, stderr = finish(nodes)
    assert code == 0, single_err[-3000:]
    return tmp, stdout, stderr, single_out


def test_two_nodes_take_half_the_steps_and_match_one_process_with_the_doubled_batch(two_node_run):
    tmp, stdout, _, single_out = two_node_run
    chunks = int(stdout.split(" train chunks")[0].rsplit(" ", 1)[1])
    one_process_steps = math.ceil(chunks / 8) * 12  # the smoke batch of 8 on one process, 12 epochs
    assert "world size 2" in stdout and stdout.count("Done in ") == 1
    steps, train, valid = done_line(stdout)
    assert steps == one_process_steps // 2 == done_line(single_out)[0]
    _, single_train, single_valid = done_line(single_out)
    # the same 16 chunks a step (DDP's sampler repeats one of the 15 to fill both processes), so the same
    # learning up to that repeat and float summation order
    assert abs(train - single_train) < 0.02 * single_train and abs(valid - single_valid) < 0.02 * single_valid, \
        (stdout, single_out)
    assert sorted(p.name for p in (tmp / "two" / "smoke").iterdir() if not p.name.startswith("checkpoint-")) == \
        [".lock", "final"]  # the lock the run held (one writer per folder), and one model
    assert (tmp / "two" / "smoke" / "final" / "model.safetensors").is_file()


def test_a_lost_node_stops_the_other_in_one_line_and_both_resume_to_the_same_weights(tmp_path, two_node_run):
    """SIGKILL one node mid-run: the other stops within a minute, saying where the last checkpoint is; both
    started again with --resume end on the uninterrupted run's weights."""
    nodes = start_two_nodes(tmp_path)
    deadline = time.monotonic() + 120
    while (pretrain.last_complete_checkpoint(tmp_path / "smoke") is None
           or pretrain.step_of(pretrain.last_complete_checkpoint(tmp_path / "smoke")) < 2):
        assert time.monotonic() < deadline and all(n.poll() is None for n in nodes), "no checkpoint of step 2"
        time.sleep(0.02)
    kill_tree(nodes[1].pid)  # the second machine goes away: its launcher and its training process
    killed_at = time.monotonic()
    _, err = nodes[0].communicate(timeout=120)
    assert time.monotonic() - killed_at < 60
    nodes[1].communicate()
    assert nodes[0].returncode != 0
    said = [line for line in err.splitlines() if line.startswith("Lost another process of this run at step ")]
    assert len(said) == 1 and said[0].endswith("start every node again with --resume."), err[-3000:]
    assert not (tmp_path / "smoke" / "final").exists()
    stdout, _ = finish(start_two_nodes(tmp_path, "--resume"))
    assert "resuming from " in stdout
    a = final_weights(two_node_run[0] / "two")
    b = final_weights(tmp_path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_plain_training_loop_equals_the_trainer(gpt2_tokenizer):
    """Notebook 3's exercise: forward, loss, backward, step, zero_grad == the Trainer's own step (losses and
    weights), so a student's loop can be checked against ``pretraining.trainer_steps``."""
    import copy

    from transformers import DataCollatorForLanguageModeling

    gpt2_tokenizer = copy.copy(gpt2_tokenizer)
    gpt2_tokenizer.pad_token = gpt2_tokenizer.eos_token
    config = pretraining.gpt2_config(gpt2_tokenizer, {"n_layer": 2, "n_embd": 64, "n_head": 2, "context_length": 32,
                                                   "dropout": 0.0})
    collator = DataCollatorForLanguageModeling(gpt2_tokenizer, mlm=False)
    generator = torch.Generator().manual_seed(0)
    examples = [{"input_ids": torch.randint(0, 50_000, (32,), generator=generator).tolist()} for _ in range(12)]
    torch.manual_seed(0)
    plain = pretraining.new_gpt2(config)
    trained = copy.deepcopy(plain)
    optimizer = torch.optim.AdamW(plain.parameters(), lr=1e-3, weight_decay=0.0)
    losses = []
    for start in range(0, 12, 4):
        loss = plain(**collator(examples[start:start + 4])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert pretraining.trainer_steps(trained, examples, collator, batch_size=4, learning_rate=1e-3) == \
        pytest.approx(losses, rel=1e-6)
    assert losses[0] != losses[-1]
    for mine, theirs in zip(plain.parameters(), trained.parameters()):
        torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="Give a whole number of batches"):
        pretraining.trainer_steps(trained, examples[:5], collator, batch_size=4, learning_rate=1e-3)


def test_a_nan_loss_stops_training_with_one_clear_error(gpt2_tokenizer, tmp_path):
    """A loss that turns NaN stops the run at the next log, instead of being logged as a number."""
    import copy

    from transformers import DataCollatorForLanguageModeling, TrainingArguments

    tokenizer = copy.copy(gpt2_tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    config = pretraining.gpt2_config(tokenizer, {"n_layer": 1, "n_embd": 32, "n_head": 2, "context_length": 16,
                                              "dropout": 0.0})
    examples = Dataset.from_dict({"input_ids": [[i % 500 + j for j in range(16)] for i in range(16)]})

    class Diverging(pretraining.ChunkedLossTrainer):
        def _loss_from_hidden(self, outputs, labels, num_items_in_batch=None):
            loss = super()._loss_from_hidden(outputs, labels, num_items_in_batch)
            return loss * float("nan") if self.state.global_step >= 2 else loss

    args = TrainingArguments(output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=4, logging_steps=1,
                             logging_nan_inf_filter=False, report_to=[], save_strategy="no", use_cpu=True,
                             disable_tqdm=True)
    trainer = Diverging(model=pretraining.new_gpt2(config), args=args, train_dataset=examples,
                        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
    with pytest.raises(FloatingPointError, match=r"The training loss became nan by step 3: training stopped"):
        trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert all(math.isfinite(x) for x in losses[:-1]) and math.isnan(losses[-1])  # logged as NaN, not hidden
    smoke = choose_profile(PRETRAINING, "smoke")[1]
    assert pretraining.training_arguments(smoke, tmp_path, torch.device("cpu")).logging_nan_inf_filter is False


def test_a_loop_with_schedule_clipping_and_evaluation_equals_the_trainer(gpt2_tokenizer):
    """Notebook 3's exercise 2b, grown as in the Hugging Face course (ch. 7.6): warm-up and cosine, clipping at 1, an
    evaluation every 2 steps == ``pretraining.trainer_log`` (losses, evaluations and weights). That the check tells
    a loop without clipping from this one: tests/test_exercises_03_pretraining_gpt2.py."""
    import copy

    import transformers
    from transformers import DataCollatorForLanguageModeling

    tokenizer = copy.copy(gpt2_tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    config = pretraining.gpt2_config(tokenizer, {"n_layer": 2, "n_embd": 64, "n_head": 2, "context_length": 32,
                                                 "dropout": 0.0})
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    generator = torch.Generator().manual_seed(0)
    examples = [{"input_ids": torch.randint(0, 50_000, (32,), generator=generator).tolist()} for _ in range(20)]
    train, held_out = examples[:16], examples[16:]
    torch.manual_seed(0)
    mine = pretraining.new_gpt2(config)
    fresh = copy.deepcopy(mine)

    def run(model):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
        scheduler = transformers.get_scheduler("cosine", optimizer, num_warmup_steps=2, num_training_steps=4)
        losses, evaluations = [], []
        for step, start in enumerate(range(0, 16, 4), start=1):
            loss = model(**collator(train[start:start + 4])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            if step % 2 == 0:
                with torch.no_grad():
                    evaluations.append((step, model(**collator(held_out)).loss.item()))
        return losses, evaluations

    losses, evaluations = run(mine)
    reference = copy.deepcopy(fresh)
    expected = pretraining.trainer_log(reference, train, collator, 4, torch.optim.AdamW(
        reference.parameters(), lr=1e-3, weight_decay=0.0), warmup_steps=2, lr_scheduler_type="cosine",
        max_grad_norm=1.0, eval_examples=held_out, eval_every=2)
    assert expected[0] == pytest.approx(losses, rel=1e-6)
    assert [s for s, _ in expected[1]] == [2, 4]
    assert [v for _, v in expected[1]] == pytest.approx([v for _, v in evaluations], rel=1e-5)
    for a, b in zip(mine.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_steps_that_fit_cut_a_run_to_its_budget_in_whole_evaluation_intervals():
    profile = {"budget_s": 50, "eval_every": 100}
    assert pretraining.steps_that_fit(0.05, profile, 606) == 606  # 30 s: all of them
    assert pretraining.steps_that_fit(0.2, profile, 606) == 200  # 250 steps fit: two whole intervals
    assert pretraining.steps_that_fit(10.0, profile, 606) == 200  # at least two intervals: a curve
    assert pretraining.steps_that_fit(10.0, profile | {"budget_s": None}, 606) == 606  # no budget (a GPU profile)


@pytest.mark.parametrize("chunks,passes", [(19, 10 / 3), (16, 4.0), (2, 1.0)])
def test_the_probe_counts_the_passes_an_optimizer_step_really_makes(gpt2_tokenizer, tmp_path, chunks, passes):
    """An epoch's last step makes fewer passes when fewer chunks are left (19 chunks, 2 a pass, 4 passes a step:
    4 + 4 + 2), so the estimate counts 10 passes in 3 steps, not 12."""
    from transformers import Trainer

    config = pretraining.gpt2_config(gpt2_tokenizer, {"n_layer": 1, "n_embd": 32, "n_head": 2, "context_length": 8,
                                                      "dropout": 0.0})
    profile = {"epochs": 1, "batch_size": 8, "gradient_accumulation_steps": 4, "learning_rate": 1e-3,
               "warmup_steps": 0, "eval_every": 10}
    args = pretraining.training_arguments(profile, tmp_path, torch.device("cpu"), eval_strategy="no")
    examples = Dataset.from_dict({"input_ids": [[i + j for j in range(8)] for i in range(chunks)]})
    trainer = Trainer(model=pretraining.new_gpt2(config), args=args, train_dataset=examples)
    assert pretraining.passes_per_step(trainer) == pytest.approx(passes)


def test_the_stock_trainer_runs_with_the_support_callbacks_and_evaluates_as_many_chunks_a_pass_as_it_trains(
        tmp_path):
    smoke = choose_profile(PRETRAINING, "smoke")[1]
    args = pretraining.training_arguments(smoke | {"log_every": 2}, tmp_path, torch.device("cpu"))
    assert (args.per_device_eval_batch_size, args.logging_steps, args.max_grad_norm) == (smoke["batch_size"], 2, 1.0)
    passes = pretraining.training_arguments(smoke | {"batch_size": 8, "gradient_accumulation_steps": 4}, tmp_path,
                                            torch.device("cpu"))
    assert (passes.per_device_train_batch_size, passes.per_device_eval_batch_size) == (2, 2)
    callbacks = pretraining.support_callbacks()
    assert [type(c).__name__ for c in callbacks] == ["ReuseFreedMemory", "StopOnNonFiniteLoss", "EvaluateAlsoAt",
                                                     "PlainForwardAfterTraining"]
    assert pretraining.support_callbacks()[0] is not callbacks[0]  # fresh ones for every Trainer


@pytest.mark.parametrize("callbacks, same", [([], False), ([PlainForwardAfterTraining()], True)],
                         ids=["accelerate's bf16 wrapper left on", "the model's own forward back"])
def test_a_model_trained_in_bf16_answers_as_its_saved_copy_does(tmp_path, callbacks, same):
    """After a bf16 run the model in the kernel gives the same logits as its saved weights reloaded (fp32), so a
    number printed before session 2's reload is the number after it; without the callback it does not."""
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=97, n_positions=16))
    rows = [[(7 * i + j) % 97 for j in range(16)] for i in range(16)]
    args = TrainingArguments(tmp_path / "run", max_steps=2, per_device_train_batch_size=8, bf16=True, use_cpu=True,
                             save_strategy="no", **pretraining.RUN_OPTIONS)
    Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"input_ids": rows, "labels": rows}),
            callbacks=callbacks).train()
    model.save_pretrained(tmp_path / "saved")
    reloaded = GPT2LMHeadModel.from_pretrained(tmp_path / "saved").eval()
    ids = torch.tensor([rows[3]])
    with torch.no_grad():
        assert torch.equal(model.eval()(ids).logits, reloaded(ids).logits) is same
    assert ("forward" in vars(model) and hasattr(model.forward, "__wrapped__")) is not same


def test_a_profile_s_early_evaluations_come_besides_the_regular_ones(gpt2_tokenizer, tmp_path):
    """The second run falls fastest in its first steps: it is evaluated there too, then every eval_every steps."""
    from transformers import DataCollatorForLanguageModeling, Trainer

    _, profile = choose_profile(PRETRAINING, "smoke")
    profile |= {"epochs": 1, "batch_size": 1, "gradient_accumulation_steps": 1, "eval_every": 4,
                "early_evals": (1, 2)}
    gpt2_tokenizer.pad_token = gpt2_tokenizer.eos_token
    ids = gpt2_tokenizer("A short text to learn. " * 200)["input_ids"]
    chunks = Dataset.from_dict({"input_ids": [ids[i:i + 128] for i in range(0, 128 * 9, 128)]})
    args = pretraining.training_arguments(profile, tmp_path, "cpu", use_cpu=True, bf16=False)
    trainer = Trainer(model=pretraining.new_gpt2(pretraining.gpt2_config(gpt2_tokenizer, profile)), args=args,
                      data_collator=DataCollatorForLanguageModeling(gpt2_tokenizer, mlm=False),
                      train_dataset=chunks, eval_dataset=chunks.select(range(2)),
                      callbacks=pretraining.support_callbacks(profile))
    trainer.train()
    evaluated = [entry["step"] for entry in trainer.state.log_history if "eval_loss" in entry]
    assert evaluated == [0, 1, 2, 4, 8, 9]  # at the start, the early ones, every 4th, and the last step
    assert pretraining.evaluation_steps(profile, trainer.state.global_step) == evaluated  # what the estimate counts


def test_timing_an_evaluation_prints_nothing_and_keeps_the_trainers_printer(gpt2_tokenizer, tmp_path, capsys):
    """The probe cell prints its estimate, not the metrics of the evaluation it timed."""
    from transformers import DataCollatorForLanguageModeling, Trainer
    from transformers.trainer_callback import PrinterCallback

    _, profile = choose_profile(PRETRAINING, "smoke")
    gpt2_tokenizer.pad_token = gpt2_tokenizer.eos_token
    ids = gpt2_tokenizer("A short text to learn. " * 50)["input_ids"]
    chunks = Dataset.from_dict({"input_ids": [ids[i:i + 64] for i in range(0, 64 * 2, 64)]})
    args = pretraining.training_arguments(profile, tmp_path, "cpu", use_cpu=True, bf16=False)
    trainer = Trainer(model=pretraining.new_gpt2(pretraining.gpt2_config(gpt2_tokenizer, profile)), args=args,
                      data_collator=DataCollatorForLanguageModeling(gpt2_tokenizer, mlm=False), eval_dataset=chunks)
    assert any(isinstance(c, PrinterCallback) for c in trainer.callback_handler.callbacks)  # disable_tqdm: it prints
    assert pretraining.evaluation_seconds(trainer) > 0
    assert capsys.readouterr().out == ""
    assert any(isinstance(c, PrinterCallback) for c in trainer.callback_handler.callbacks)
    assert "eval_loss" in trainer.state.log_history[-1]  # it did evaluate


def test_a_finished_run_drops_its_optimizer_moments_but_its_checkpoint_keeps_them(gpt2_tokenizer, tmp_path):
    """A kernel left open holds the trained model, not AdamW's two moments a weight as well; the checkpoint written
    at the last step still holds them, so resume_from_checkpoint continues where training stopped."""
    from transformers import DataCollatorForLanguageModeling, Trainer

    _, profile = choose_profile(PRETRAINING, "smoke")
    gpt2_tokenizer.pad_token = gpt2_tokenizer.eos_token
    ids = gpt2_tokenizer("A short text to learn. " * 200)["input_ids"]
    chunks = Dataset.from_dict({"input_ids": [ids[i:i + 128] for i in range(0, 128 * 8, 128)]})
    args = pretraining.training_arguments(profile | {"epochs": 1}, tmp_path, "cpu", eval_strategy="no",
                                          save_strategy="steps", save_steps=10**9, use_cpu=True, bf16=False)
    trainer = Trainer(model=pretraining.new_gpt2(pretraining.gpt2_config(gpt2_tokenizer, profile)), args=args,
                      data_collator=DataCollatorForLanguageModeling(gpt2_tokenizer, mlm=False), train_dataset=chunks,
                      callbacks=pretraining.support_callbacks())
    trainer.train()
    assert len(trainer.optimizer.state) == 0
    saved = torch.load(tmp_path / f"checkpoint-{trainer.state.global_step}" / "optimizer.pt", weights_only=True)
    weights = len(list(trainer.model.parameters()))  # the tied embedding and output layer count once
    assert len(saved["state"]) == weights and all("exp_avg_sq" in moments for moments in saved["state"].values())


def test_a_run_starts_by_collecting_the_model_an_earlier_run_left_behind():
    """`del trainer` leaves its model in reference cycles (hooks, the optimizer), alive until the cyclic collector runs;
    the next run's ReuseFreedMemory collects it before its first step allocates."""
    import gc
    import weakref

    class Cycle:  # what a deleted Trainer leaves: objects that refer to each other and to nothing else
        def __init__(self):
            self.model, self.me = torch.nn.Linear(256, 256), self

    callback = ReuseFreedMemory()
    gc.disable()  # as between two automatic collections
    try:
        left = Cycle()
        gone = weakref.ref(left.model)
        del left
        assert gone() is not None
        callback.on_train_begin(None, None, None)
        assert gone() is None
    finally:
        gc.enable()
        callback.on_train_end(None, None, None)
