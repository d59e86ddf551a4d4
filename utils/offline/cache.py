"""A verified file cache: files fetched from pinned packages, checked by sha256, built into place atomically.

A *cached folder* is built in a temporary folder next to its final place and renamed into place only when
complete, with a ``manifest.json`` of its files' sizes and sha256. A folder without a valid manifest (missing,
damaged, or listing a path outside the folder) does not exist as far as the cache is concerned, so a killed build
or a damaged manifest is rebuilt, never trusted. The first use of a folder in a process re-hashes its files; later
uses in the same process check sizes only. A build holds ``.<name>.lock``, so a process that finds the folder
missing while another builds it waits for that build instead of starting its own. How the pinned files are fetched
is ``utils.offline.packages``.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from utils.support.files import FileProblem, open_no_follow, read_json, settings_base, user_path

CACHE_ENV = "LLM_TUTORIAL_CACHE"
MANIFEST = "manifest.json"
BUILD_FORMAT = 1  # bump to invalidate every cached folder after a change to the builders


class AssetError(RuntimeError):
    """A cached or downloadable file is missing, unreachable or corrupted; the message says what to do."""


def cache_root() -> Path:
    """Folder holding the cache: $LLM_TUTORIAL_CACHE (a relative path starts at the repository root), else
    $XDG_CACHE_HOME/llm-tutorial (~/.cache/llm-tutorial)."""
    if os.environ.get(CACHE_ENV, "").strip():
        root = user_path(os.environ[CACHE_ENV].strip(), settings_base())  # relative: from the repository root
        if root.exists() and not root.is_dir():
            raise AssetError(f"${CACHE_ENV}={os.environ[CACHE_ENV]!r} is a file, not a folder: point it at a folder "
                             "(it is created if missing), or unset it to use ~/.cache/llm-tutorial.")
        return root
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "llm-tutorial"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Cached folders: build once, rename into place, check on use
# --------------------------------------------------------------------------------------------

_hashed_this_process: set[Path] = set()
# how to rebuild an asset that is not in utils.offline.assets' catalogue (it builds on use with its own command)
REBUILT_BY: dict[str, str] = {}


def rebuild_advice(name: str, folder: Path) -> str:
    """What to run (or delete) to rebuild the cached asset ``name``."""
    if name in REBUILT_BY:
        return f"Delete {folder}; {REBUILT_BY[name]} then builds it again."
    return f"Run `python -m utils.offline.assets --rebuild {name}` (or delete {folder}) to rebuild it."


def _inside(rel) -> bool:
    """Whether ``rel`` names a file inside the folder: relative, no ``..``, written plainly."""
    path = PurePosixPath(rel) if isinstance(rel, str) else None
    return path is not None and not path.is_absolute() and ".." not in path.parts and str(path) == rel \
        and rel not in ("", ".", MANIFEST)


def _valid_files(files) -> bool:
    return isinstance(files, dict) and bool(files) and all(
        _inside(rel) and isinstance(info, dict) and type(info.get("size")) is int
        and isinstance(info.get("sha256"), str) for rel, info in files.items())


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a complete cached folder, or None: missing, damaged (not JSON, nested too deep, the wrong
    shapes), listing a file outside the folder, or from an older format. None means "rebuild it"."""
    try:
        manifest = read_json(folder / MANIFEST, "the cache manifest")
    except FileProblem:
        return None
    if manifest.get("format") != BUILD_FORMAT or not _valid_files(manifest.get("files")) \
            or not isinstance(manifest.get("meta", {}), dict):
        return None  # rebuilt on use, like a missing one
    return manifest


def check_folder(name: str, folder: Path, manifest: dict, full: bool, pinned: dict[str, str] | None = None) -> None:
    """Compare a folder with its manifest: sizes, and with ``full`` every sha256; AssetError on a difference. With
    ``pinned`` (file -> sha256, for an asset whose build is deterministic) the manifest must list exactly those."""
    if pinned is not None and {rel: info.get("sha256") for rel, info in manifest["files"].items()} != pinned:
        raise AssetError(f"Cached asset '{name}' does not match the checksums pinned in utils/offline/assets.py "
                         f"(its files and manifest were changed). {rebuild_advice(name, folder)}")
    for rel, info in manifest["files"].items():
        path = folder / rel
        if not path.is_file() or path.stat().st_size != info["size"] or (full and sha256_of(path) != info["sha256"]):
            raise AssetError(f"Cached asset '{name}' is corrupted ({rel} changed or is missing). "
                             f"{rebuild_advice(name, folder)}")


def _lock_file(root: Path, name: str) -> Path:
    return root / f".{name}.lock"


@contextmanager
def build_lock(root: Path, name: str):
    """Hold ``root/.<name>.lock`` exclusively while ``name`` is built (a link there is refused, never followed)."""
    try:
        fd = open_no_follow(_lock_file(root, name), os.O_RDWR | os.O_CREAT)
    except FileProblem as exc:
        raise AssetError(str(exc)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _wait_for_build(root: Path, name: str) -> None:
    """If another process is building ``name`` right now, wait until it is done (its folder may be missing for
    a moment while the new build replaces the old one)."""
    try:
        fd = os.open(_lock_file(root, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # no lock file (never built here), a read-only cache without one, or not a plain file
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            print(f"Waiting for another process that is building the offline asset '{name}' ...", flush=True)
            fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def cached_folder(name: str, root: Path | None = None, pinned: dict[str, str] | None = None) -> Path | None:
    """The complete cached folder ``name``, verified (sha256 on first use in this process, and against ``pinned``
    checksums where given), or None if not built (after waiting for a build of it in progress)."""
    root = root or cache_root()
    folder = root / name
    manifest = read_manifest(folder)
    if manifest is None:
        _wait_for_build(root, name)
        manifest = read_manifest(folder)
        if manifest is None:
            return None
    full = folder.resolve() not in _hashed_this_process
    check_folder(name, folder, manifest, full=full, pinned=pinned)
    _hashed_this_process.add(folder.resolve())
    return folder


def is_complete_copy(target: Path) -> bool:
    """Whether ``target`` is a whole copy made by ``copy_listed`` (its manifest copy lists files it all holds, with
    their sizes), so it can be used as it is; False for a missing, empty, stale or linked folder."""
    manifest = None if target.is_symlink() else read_manifest(target)
    if manifest is None:
        return False
    try:
        check_folder(target.name, target, manifest, full=False)
    except AssetError:
        return False
    return True


def _copy_failure(name: str, target: Path, exc: OSError) -> AssetError:
    advice = "Free some space or choose" if exc.errno == errno.ENOSPC else "Choose"
    return AssetError(f"Could not copy '{name}' to {target} ({exc.strerror or exc}); nothing was left half-copied. "
                      f"{advice} another output folder.")


def copy_listed(name: str, folder: Path, target: Path) -> Path:
    """Copy exactly the files ``folder``'s manifest lists (a verified cached folder), and the manifest, to
    ``target``, all or nothing; a stale or incomplete ``target`` is replaced, a complete one kept as it is.

    Anything the manifest does not list stays behind, and a listed file that is a symbolic link, or lies under
    one, is refused (it could point anywhere on the disk). The copy is made beside ``target`` and renamed into
    place once every file is there, so a full disk leaves no half-copied folder, and two processes copying at once
    both end with one whole copy; AssetError says what went wrong.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        raise AssetError(f"Cached asset '{name}' at {folder} has no valid manifest. {rebuild_advice(name, folder)}")
    if is_complete_copy(target):
        return target
    try:
        part = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.part-"))
    except OSError as exc:
        raise _copy_failure(name, target, exc) from None
    try:
        for rel in [*manifest["files"], MANIFEST]:
            source = folder / rel
            linked = [p for p in (source, *source.parents) if p.is_symlink() and folder in (p, *p.parents)]
            if linked or not source.is_file():
                raise AssetError(f"Cached asset '{name}': {rel} is {'a symbolic link' if linked else 'not a file'}"
                                 f" in {folder}; refusing to copy it. {rebuild_advice(name, folder)}")
            destination = part / rel
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination, follow_symlinks=False)
        os.chmod(part, 0o755)
        _swap_in(part, target)
    except OSError as exc:
        raise _copy_failure(name, target, exc) from None
    finally:
        shutil.rmtree(part, ignore_errors=True)  # gone already when it was renamed into place
    return target


def _swap_in(new: Path, final: Path) -> None:
    """Rename the folder ``new`` to ``final``; whatever is at ``final`` (an older copy, a link, a file) is moved
    aside first and removed, never followed. When another process put a complete copy there meanwhile, keep it."""
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{final.name}.old-") as old:
        if os.path.lexists(final):
            if is_complete_copy(final):
                return
            os.rename(final, Path(old) / "previous")
        try:
            os.rename(new, final)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not is_complete_copy(final):
                raise


def remove_abandoned_builds(root: Path, name: str) -> None:
    """Delete the temporary folders of builds of ``name`` whose process is gone (killed mid-build)."""
    for folder in root.glob(f".{name}-*-*"):
        pid = folder.name[len(name) + 2:].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


def _replace_folder(new: Path, final: Path, aside: Path) -> None:
    """Put the complete build ``new`` at ``final``: an older copy (or a link) is renamed to ``aside`` first, so
    nothing is deleted through a link and ``final`` is never half-deleted."""
    if os.path.lexists(final):
        os.rename(final, aside)
    os.replace(new, final)


def build_folder(name: str, make: Callable[[Path], dict], root: Path | None = None,
                 sources: tuple[str, ...] = (), unless_built: bool = False) -> Path:
    """Run ``make(empty_folder) -> metadata`` in a temporary folder, write its manifest, rename it into place.

    The build holds the asset's lock; with ``unless_built`` a complete copy that another process built while this
    one waited for the lock is used as it is."""
    root = root or cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AssetError(f"Cannot create the asset cache {root} ({exc.strerror or exc}): set ${CACHE_ENV} to a "
                         "writable folder.") from None
    final = root / name
    started = time.perf_counter()
    try:
        with build_lock(root, name):
            remove_abandoned_builds(root, name)
            if unless_built and read_manifest(final) is not None:
                return final
            with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-{os.getpid()}-") as tmp:
                out = Path(tmp) / "out"
                out.mkdir()
                meta = make(out)
                files = {str(p.relative_to(out)): {"size": p.stat().st_size, "sha256": sha256_of(p)}
                         for p in sorted(out.rglob("*")) if p.is_file()}
                manifest = {"format": BUILD_FORMAT, "asset": name, "sources": sorted(sources),
                            "build_seconds": round(time.perf_counter() - started, 1), "meta": meta, "files": files}
                (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
                _replace_folder(out, final, Path(tmp) / "previous")
    except Exception as exc:  # noqa: BLE001 (tokenizers reports a full disk as a bare Exception)
        cause = getattr(exc, "strerror", None) or str(exc)
        if not isinstance(exc, OSError) and "os error" not in cause:
            raise
        advice = "Free some space, or set" if "space" in cause or "os error 28" in cause else "Set"
        raise AssetError(f"Could not build '{name}' in {root} ({cause.splitlines()[0]}); nothing was left "
                         f"half-built. {advice} ${CACHE_ENV} to a writable folder with room.") from None
    _hashed_this_process.add(final.resolve())
    return final
