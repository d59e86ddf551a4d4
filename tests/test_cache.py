"""The verified file cache: checksums and registry failures give one clear error."""

import os
import zipfile

import pytest

from utils.offline import cache


def test_a_checksum_mismatch_is_refused(tmp_path):
    archive = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("pkg/data.txt", "tampered")
    spec = cache.PackagedFile("pkg==1.0", "pkg/data.txt", "0" * 64)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(cache.AssetError, match="Checksum mismatch for data.txt"):
        cache.extract(spec, archive, out)


def test_an_unreachable_registry_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(cache.AssetError, match="Could not download gensim==4.4.0 from the package registry"):
        cache.pip_download("gensim==4.4.0", tmp_path, ("--retries", "0"))


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
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["a.txt", "sub", "sub/b.txt"]


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
