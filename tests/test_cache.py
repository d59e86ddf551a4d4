"""The verified file cache: a damaged folder or manifest is rebuilt, never trusted; nothing it writes follows a
link; a reader never sees a folder missing while another process rebuilds it. (Fetching: test_packages.py.)"""

import errno
import json
import os
import threading
import time
from pathlib import Path

import pytest

from utils.offline import cache


def test_a_same_size_edit_is_caught_on_the_first_use_in_a_process(tmp_path):
    def make(out):
        (out / "weights.bin").write_bytes(bytes(range(256)) * 4)
        return {"what": "test"}

    folder = cache.build_folder("thing", make, root=tmp_path)
    assert cache.cached_folder("thing", root=tmp_path) == folder
    data = bytearray((folder / "weights.bin").read_bytes())
    data[10] ^= 1
    (folder / "weights.bin").write_bytes(bytes(data))
    cache._hashed_this_process.clear()  # as in a new process
    with pytest.raises(cache.AssetError, match="'thing' is corrupted.*--rebuild thing"):
        cache.cached_folder("thing", root=tmp_path)


def test_a_killed_build_is_not_a_cached_folder(tmp_path):
    (tmp_path / "thing").mkdir()  # a folder without a manifest: what a killed build would leave
    (tmp_path / "thing" / "half.bin").write_bytes(b"half")
    assert cache.cached_folder("thing", root=tmp_path) is None


def test_the_temporary_folder_of_a_killed_build_is_removed_by_the_next_build(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".thing-{dead.stdout.strip()}-abc123"  # what SIGKILL during a build leaves
    (leftover / "out").mkdir(parents=True)
    (leftover / "out" / "half.bin").write_bytes(b"half")
    alive = tmp_path / f".thing-{os.getpid()}-def456"  # a build still running in a live process: kept
    alive.mkdir()
    cache.build_folder("thing", lambda out: (out / "a.txt").write_text("a") and {}, root=tmp_path)
    assert not leftover.exists() and alive.exists()
    assert (tmp_path / "thing" / "a.txt").read_text() == "a"


def _built(tmp_path):
    def make(out):
        (out / "a.txt").write_text("a")
        (out / "sub").mkdir()
        (out / "sub" / "b.txt").write_text("b")
        return {}
    return cache.build_folder("thing", make, root=tmp_path / "cache")


def test_copy_listed_copies_exactly_the_manifests_files(tmp_path):
    folder = _built(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (folder / "extra-link").symlink_to(secret)  # not in the manifest: an attacker's addition
    (folder / "extra.txt").write_text("unlisted")
    target = cache.copy_listed("thing", folder, tmp_path / "copy")
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["a.txt", "manifest.json", "sub",
                                                                             "sub/b.txt"]


@pytest.mark.parametrize("linked", ["a.txt", "sub"])
def test_copy_listed_refuses_a_listed_file_that_is_a_link(tmp_path, linked):
    folder = _built(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_text("a")
    (outside / "b.txt").write_text("b")
    original = folder / linked
    if original.is_dir():
        for child in original.iterdir():
            child.unlink()
        original.rmdir()
        original.symlink_to(outside, target_is_directory=True)
    else:
        original.unlink()
        original.symlink_to(outside / "a.txt")
    with pytest.raises(cache.AssetError, match="is a symbolic link"):
        cache.copy_listed("thing", folder, tmp_path / "copy")
    assert not (tmp_path / "copy").exists() and not list(tmp_path.glob(".copy.part-*"))


def test_copy_listed_on_a_full_disk_leaves_nothing_half_copied(tmp_path, monkeypatch):
    folder = _built(tmp_path)
    copied = []

    def full_after_one(source, destination, follow_symlinks=True):
        if copied:
            raise OSError(28, "No space left on device")
        copied.append(destination)
        destination.write_bytes(source.read_bytes())

    monkeypatch.setattr(cache.shutil, "copyfile", full_after_one)
    with pytest.raises(cache.AssetError, match=r"No space left on device\); nothing was left half-copied"):
        cache.copy_listed("thing", folder, tmp_path / "copy")
    assert copied and not (tmp_path / "copy").exists() and not list(tmp_path.glob(".copy.part-*"))


# ---- damaged manifests mean "rebuild", never a crash ----------------------------------------------------------------

@pytest.mark.parametrize("damage", [
    lambda m: "[" * 100_000 + "]" * 100_000,  # nested past Python's recursion limit
    lambda m: json.dumps({**m, "meta": ["not", "an", "object"]}),
    lambda m: json.dumps({**m, "files": {"/etc/passwd": m["files"]["a.txt"]}}),  # a path outside the folder
    lambda m: json.dumps({**m, "files": {"../outside.txt": m["files"]["a.txt"]}}),
    lambda m: json.dumps({**m, "files": {"sub/../a.txt": m["files"]["a.txt"]}}),
    lambda m: "{" * 3,
], ids=["nested", "meta a list", "absolute path", "parent path", "unnormalised path", "not JSON"])
def test_a_damaged_manifest_is_treated_as_not_built(tmp_path, damage):
    folder = _built(tmp_path)
    manifest = json.loads((folder / cache.MANIFEST).read_text())
    (folder / cache.MANIFEST).write_text(damage(manifest))
    assert cache.read_manifest(folder) is None
    assert cache.cached_folder("thing", root=tmp_path / "cache") is None
    with pytest.raises(cache.AssetError, match="has no valid manifest"):
        cache.copy_listed("thing", folder, tmp_path / "copy")
    rebuilt = cache.build_folder("thing", lambda out: (out / "a.txt").write_text("a") and {}, root=tmp_path / "cache")
    assert cache.cached_folder("thing", root=tmp_path / "cache") == rebuilt


def test_an_asset_with_a_damaged_manifest_is_rebuilt_on_use(tmp_path, monkeypatch, capsys):
    from utils.offline import assets

    monkeypatch.setattr(assets, "fetch", lambda specs, work: {})
    monkeypatch.setitem(assets.ASSETS, "toy", assets.Asset("toy", (), lambda src, out: (out / "w").write_text("w")
                                                           and {"size": 1}))
    folder = assets.asset_dir("toy", root=tmp_path)
    (folder / cache.MANIFEST).write_text(json.dumps({"format": cache.BUILD_FORMAT, "meta": [1], "files": {}}))
    assert assets.asset_dir("toy", root=tmp_path) == folder and assets.manifest("toy", root=tmp_path)["meta"]
    assert "Building the offline asset 'toy' on first use" in capsys.readouterr().out
    (folder / cache.MANIFEST).write_text("[" * 100_000)
    assets.ensure_all(["toy"], root=tmp_path)  # python -m utils.offline.assets
    assert "toy                  built" in capsys.readouterr().out


# ---- nothing the cache writes follows a link ----------------------------------------------------------------------

def test_a_cached_folder_that_is_a_link_is_replaced_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "thing").symlink_to(outside, target_is_directory=True)
    folder = cache.build_folder("thing", lambda out: (out / "a.txt").write_text("a") and {}, root=tmp_path / "cache")
    assert not folder.is_symlink() and (folder / "a.txt").read_text() == "a"
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]


def test_a_build_lock_that_is_a_link_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / ".thing.lock").symlink_to(victim)
    with pytest.raises(cache.AssetError, match="is a symbolic link"):
        cache.build_folder("thing", lambda out: {}, root=tmp_path / "cache")
    assert victim.read_text() == "precious"


def test_a_relative_cache_folder_is_the_same_from_any_working_folder(tmp_path, monkeypatch):
    from utils.support.files import settings_base

    monkeypatch.setenv(cache.CACHE_ENV, "relcache")
    seen = set()
    for where in (tmp_path, tmp_path / "notebooks"):  # a command in the root, a notebook's kernel
        where.mkdir(exist_ok=True)
        monkeypatch.chdir(where)
        seen.add(cache.cache_root())
    assert seen == {settings_base() / "relcache"}


# ---- processes building and reading at once -------------------------------------------------------------------------

def test_a_reader_waits_for_a_build_in_progress_instead_of_finding_nothing(tmp_path):
    folder = _built(tmp_path)
    root = tmp_path / "cache"
    found = []
    with cache.build_lock(root, "thing"):  # a rebuild, caught between removing the old copy and renaming the new
        os.rename(folder, tmp_path / "aside")
        reader = threading.Thread(target=lambda: found.append(cache.cached_folder("thing", root=root)))
        reader.start()
        time.sleep(0.5)
        assert reader.is_alive()  # waiting for the build, not deciding it is missing
        os.rename(tmp_path / "aside", folder)
    reader.join(10)
    assert found == [folder]


def test_a_killed_builds_temporary_folder_is_removed_by_a_verify(tmp_path, monkeypatch):
    import subprocess
    import sys

    from utils.offline import assets

    monkeypatch.setattr(assets, "fetch", lambda specs, work: {})
    monkeypatch.setitem(assets.ASSETS, "toy", assets.Asset("toy", (), lambda src, out: (out / "w").write_text("w")
                                                           and {}))
    assets.asset_dir("toy", root=tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".toy-{dead.stdout.strip()}-abc123"
    (leftover / "out").mkdir(parents=True)
    assets.ensure_all(["toy"], root=tmp_path)  # verifies, builds nothing
    assert not leftover.exists()


def test_an_empty_or_stale_copy_is_replaced_by_a_whole_one(tmp_path):
    folder = _built(tmp_path)
    target = tmp_path / "slides-assets"
    target.mkdir()  # what an interrupted or older copy leaves
    assert not cache.is_complete_copy(target)
    cache.copy_listed("thing", folder, target)
    assert cache.is_complete_copy(target) and (target / "sub" / "b.txt").read_text() == "b"
    (target / "a.txt").write_text("longer than it was")
    assert not cache.is_complete_copy(target)
    cache.copy_listed("thing", folder, target)
    assert (target / "a.txt").read_text() == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "slides-assets"]


def test_a_copy_racing_another_keeps_the_whole_copy_already_there(tmp_path, monkeypatch):
    folder = _built(tmp_path)
    target = tmp_path / "copy"
    rename, raced = os.rename, []

    def another_process_wins(source, destination):  # the other copy lands just before ours
        if Path(destination) == target and not raced:
            raced.append(source)
            rename(source, destination)  # theirs: a whole copy
            raise OSError(errno.ENOTEMPTY, "Directory not empty")
        rename(source, destination)

    monkeypatch.setattr(cache.os, "rename", another_process_wins)
    assert cache.copy_listed("thing", folder, target) == target
    assert cache.is_complete_copy(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "copy"]
