"""The project's own files: JSON that may be damaged, paths as typed, and writes that never follow a link."""

import os

import pytest

from utils.support import files
from utils.support.files import FileProblem, read_json, user_path, write_atomic


def written(tmp_path, text: str | bytes, name: str = "f.json"):
    path = tmp_path / name
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


@pytest.mark.parametrize("content,said", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # past Python's own recursion limit
    ('{"a": ' + "[" * 500 + "]" * 500 + "}", "nested more than 100 deep"),  # within it, but no real file nests so
    ("{\"files\": ", "is not valid JSON"),
    (b"\xff\xfe{}", "is not valid JSON"),
    ("[1, 2]", "holds a JSON array where a JSON object belongs"),
    ("null", "holds a JSON null where a JSON object belongs"),
])
def test_a_damaged_json_file_is_one_file_problem(tmp_path, content, said):
    with pytest.raises(FileProblem, match=said) as raised:
        read_json(written(tmp_path, content), "the manifest")
    assert str(raised.value).startswith(f"the manifest {tmp_path / 'f.json'} ") and "\n" not in str(raised.value)


def test_an_oversized_json_file_is_refused_without_reading_it(tmp_path):
    huge = tmp_path / "tokenizer.json"
    with open(huge, "wb") as f:
        f.truncate(files.MAX_JSON_BYTES + 1)  # sparse: no disk used
    with pytest.raises(FileProblem, match="is 100 MB, more than the 100 MB such a file can be"):
        read_json(huge)


def test_a_missing_json_file_is_a_file_problem(tmp_path):
    with pytest.raises(FileProblem, match="cannot be read"):
        read_json(tmp_path / "none.json")


def test_a_valid_json_object_is_read():
    assert read_json(files.REPOSITORY / "notebooks" / "01_masked_lm.ipynb")["nbformat"] == 4


def test_a_users_path_is_expanded_and_made_absolute_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert user_path("~/runs") == tmp_path / "runs"  # as after --output-dir=~/runs, where bash leaves the ~
    assert user_path("runs/../out") == tmp_path / "out"
    assert user_path("x", base=tmp_path / "repo") == tmp_path / "repo" / "x"
    assert user_path("/abs/x") == user_path("/abs/x", base=tmp_path)


def test_a_write_replaces_a_planted_link_and_leaves_its_target_alone(tmp_path):
    victim = written(tmp_path, "precious", "victim.txt")
    deck = tmp_path / "deck.html"
    deck.symlink_to(victim)
    write_atomic(deck, "<html>")
    assert victim.read_text() == "precious"
    assert not deck.is_symlink() and deck.read_text() == "<html>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deck.html", "victim.txt"]


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(tmp_path / "out.txt", "data")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["link", "folder"])
def test_a_lock_file_that_is_a_link_or_a_folder_is_refused(tmp_path, kind):
    victim = written(tmp_path, "precious", "victim.txt")
    lock = tmp_path / ".lock"
    lock.symlink_to(victim) if kind == "link" else lock.mkdir()
    with pytest.raises(FileProblem, match=f"is a {'symbolic link' if kind == 'link' else 'folder'}"):
        files.take_lock(lock)
    assert victim.read_text() == "precious"


def test_a_held_lock_names_its_holder(tmp_path):
    handle, _ = files.take_lock(tmp_path / ".lock")
    try:
        again, holder = files.take_lock(tmp_path / ".lock")
        assert again is None and holder == f"pid {os.getpid()}"
    finally:
        handle.close()
    handle, _ = files.take_lock(tmp_path / ".lock")
    assert handle is not None
    handle.close()
