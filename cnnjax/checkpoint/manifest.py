"""Per-file checksums of a checkpoint step, written when its save finalizes and checked before a restore.

Orbax keeps no checksums of the data it writes, so a truncated, emptied, deleted or bit-flipped file would
otherwise load (or fail deep inside Orbax). The manifest lists every file of the step directory (relative
path, size, SHA-256) except itself and Orbax's commit markers, which are written after it.
"""

import hashlib
import json
import os

MANIFEST_FILE = "cnnjax_manifest.json"
COMMIT_RECORD = "_CHECKPOINT_METADATA"  # Orbax's commit record and marker, written after the manifest
WRITTEN_AT_COMMIT = (COMMIT_RECORD, "commit_success.txt")
_NOT_LISTED = (MANIFEST_FILE, *WRITTEN_AT_COMMIT)


def _files(step_dir: str) -> list[str]:
    out = []
    for root, _, names in os.walk(step_dir):
        for name in names:
            relative = os.path.relpath(os.path.join(root, name), step_dir)
            if relative not in _NOT_LISTED:
                out.append(relative)
    return sorted(out)


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_manifest(step_dir: str) -> None:
    """Checksums every file under `step_dir` into `step_dir/cnnjax_manifest.json` (written atomically, synced)."""
    files = {name: {"size": os.path.getsize(os.path.join(step_dir, name)), "sha256": _sha256(os.path.join(step_dir, name))}
             for name in _files(step_dir)}
    path = os.path.join(step_dir, MANIFEST_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"files": files}, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def has_manifest(step_dir: str) -> bool:
    return os.path.isfile(os.path.join(step_dir, MANIFEST_FILE))


def find_damage(step_dir: str, *, checksums: bool = True) -> str | None:
    """What is wrong with the step's files against its manifest (None: intact). Without `checksums`, only
    presence and sizes are checked (a stat per file)."""
    try:
        with open(os.path.join(step_dir, MANIFEST_FILE), encoding="utf-8") as f:
            listed = json.load(f)["files"]
        entries = [(name, int(e["size"]), str(e["sha256"])) for name, e in listed.items()]
    except FileNotFoundError:
        return "it has no checksum manifest (unverified)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return f"its manifest {MANIFEST_FILE} is unreadable ({type(e).__name__})"
    if not entries:
        return f"its manifest {MANIFEST_FILE} lists no files"
    for name, size, digest in entries:
        path = os.path.join(step_dir, name)
        if not os.path.isfile(path):
            return f"{name} is missing"
        actual = os.path.getsize(path)
        if actual != size:
            return f"{name} has {actual} bytes, {size} were written"
        if checksums and _sha256(path) != digest:
            return f"{name} fails its checksum"
    return None
