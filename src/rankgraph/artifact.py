"""Artifact directories: atomic writes, manifests, checksums.

Every stage writes a directory with a `manifest.json` beside its data files. Writes go to
a temporary sibling directory that is renamed into place only when complete, so a killed
run or bad input never leaves a half-written artifact behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rankgraph.errors import ArtifactError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory that replaces `final` only if the block succeeds.

    The temporary directory is a sibling of `final` (same filesystem, so the rename is
    atomic); on any exception it is removed and `final` is left untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not overwrite:
        raise ArtifactError(f"{final} already exists")
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            old = final.parent / f".{final.name}.old-{os.getpid()}-{time.time_ns()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a file through a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def file_checksum(path: str | os.PathLike[str], chunk: int = 1 << 24) -> str:
    """BLAKE2b-128 of a file's bytes, streamed (fast and collision-safe enough for integrity)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def describe_file(root: Path, rel: str) -> dict[str, Any]:
    """The manifest entry of one data file: size and checksum, plus shape/dtype for `.npy`."""
    path = root / rel
    entry: dict[str, Any] = {"bytes": path.stat().st_size, "blake2b": file_checksum(path)}
    if rel.endswith(".npy"):
        arr = np.load(path, mmap_mode="r")
        entry["shape"] = list(arr.shape)
        entry["dtype"] = str(arr.dtype)
        del arr
    return entry


def write_manifest(root: Path, kind: str, body: dict[str, Any], files: list[str] | None = None) -> dict[str, Any]:
    """Write `manifest.json` into `root` with format version, kind, time and file checksums.

    `files` are paths relative to `root`; by default every file under it except the manifest.
    """
    if files is None:
        files = sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != MANIFEST
        )
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **body,
        "files": {rel: describe_file(root, rel) for rel in files},
    }
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False, default=str))
    return manifest


def read_manifest(root: str | os.PathLike[str], kind: str | None = None) -> dict[str, Any]:
    """Read and sanity-check `manifest.json`; refuse a missing, unreadable or wrong-kind one."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{root}: not an artifact directory (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or "files" not in manifest:
        raise ArtifactError(f"{path}: manifest has no 'files' section")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: format_version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    if kind is not None and manifest.get("kind") != kind:
        raise ArtifactError(f"{path}: artifact kind {manifest.get('kind')!r}, expected {kind!r}")
    return manifest


def verify_files(root: Path, manifest: dict[str, Any], *, checksums: bool) -> None:
    """Check every file the manifest lists: present, same size, same shape/dtype, same checksum.

    Size and `.npy` header checks are cheap and always run; full checksums read every byte,
    so large artifacts can skip them (`checksums=False`).
    """
    for rel, entry in manifest["files"].items():
        path = root / rel
        if not path.is_file():
            raise ArtifactError(f"{path}: listed in the manifest but missing")
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise ArtifactError(f"{path}: {size} bytes, manifest says {entry['bytes']} (truncated or replaced)")
        if "shape" in entry:
            try:
                arr = np.load(path, mmap_mode="r")
            except ValueError as exc:
                raise ArtifactError(f"{path}: unreadable .npy ({exc})") from exc
            if list(arr.shape) != entry["shape"] or str(arr.dtype) != entry["dtype"]:
                raise ArtifactError(
                    f"{path}: shape {list(arr.shape)} {arr.dtype}, manifest says {entry['shape']} {entry['dtype']}"
                )
        if checksums and file_checksum(path) != entry["blake2b"]:
            raise ArtifactError(f"{path}: checksum mismatch (file changed since it was written)")
