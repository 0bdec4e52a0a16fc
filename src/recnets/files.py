"""Files that survive a crash: written under a temporary name, fsynced, renamed, the folder fsynced.

A reader then sees the old file or the new one, never half of either (DESIGN.md, "nothing lost").
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_atomically", "write_json", "fsync_folder"]


def fsync_folder(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename inside it) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through ``path.tmp-PID``: fsync, rename, fsync of the folder.

    The temporary name is the process's own, so processes that write the same file (ranks of a torchrun job
    writing identical content) never rename each other's half-written file.
    """
    path = Path(path)
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_folder(path.parent)
    return path


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """``data`` as indented JSON with sorted keys and a final newline, written atomically."""
    return write_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
