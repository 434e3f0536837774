"""Resolve a user-typed server path strictly inside the data roots the operator configured.

Roots come from the environment variable ``EXPLORER_DATA_ROOTS`` (``os.pathsep``-separated) or from
``data_roots`` in ``.streamlit/secrets.toml``. A path is accepted only when it is relative, has no
``..`` part, and still lies inside its root after every symlink is resolved.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Mapping

import streamlit as st

ENV_VAR = "EXPLORER_DATA_ROOTS"


class PathRefused(ValueError):
    """The path is outside the data roots or uses a trick; the message says which, in plain words."""


def data_roots(environ: Mapping[str, str] | None = None, secrets: Mapping | None = None) -> list[Path]:
    """The configured roots that exist, resolved; environment first, then ``secrets["data_roots"]``."""
    environ = os.environ if environ is None else environ
    raw: list[str] = [p for p in environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    if not raw and secrets is not None:
        value = secrets.get("data_roots", [])
        raw = [value] if isinstance(value, str) else [str(v) for v in value]
    roots = []
    for item in raw:
        path = Path(item.strip()).expanduser()
        if path.is_dir():
            roots.append(path.resolve())
    return list(dict.fromkeys(roots))


def resolve_in_root(relative: str, root: Path) -> Path:
    """``root / relative`` if it exists and stays inside ``root`` (symlinks resolved); else PathRefused."""
    text = (relative or "").strip()
    if "\x00" in text:
        raise PathRefused("the path contains a NUL character")
    if text.startswith(("/", "\\", "~")) or PureWindowsPath(text).drive or PurePosixPath(text).is_absolute():
        raise PathRefused("give a path relative to the data root, not an absolute path")
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathRefused("'..' is not allowed: stay inside the data root")
    root = root.resolve()
    candidate = root.joinpath(*parts).resolve()
    if candidate != root and root not in candidate.parents:
        raise PathRefused("that path leads outside the data root (through a symlink)")
    if not candidate.exists():
        raise PathRefused("no such file or folder inside the data root")
    return candidate


def list_choices(root: Path, *, depth: int = 2, limit: int = 200) -> list[str]:
    """Relative paths under ``root`` worth offering: folders, .zip, .csv, .npz, .parquet and .tsv files (bounded walk)."""
    out: list[str] = []
    root = root.resolve()

    def walk(folder: Path, level: int) -> None:
        try:
            children = sorted(folder.iterdir(), key=lambda p: p.name.lower())
        except OSError:
            return
        for child in children:
            if len(out) >= limit or child.name.startswith("."):
                continue
            try:
                real = child.resolve()
            except OSError:
                continue
            if real != root and root not in real.parents:
                continue
            rel = child.relative_to(root).as_posix()
            if child.is_dir():
                out.append(rel)
                if level < depth:
                    walk(child, level + 1)
            elif child.suffix.lower() in (".zip", ".csv", ".npz", ".parquet", ".tsv"):
                out.append(rel)

    walk(root, 1)
    return out



def configured_roots() -> list[Path]:
    """The data roots of this server: ``EXPLORER_DATA_ROOTS``, else ``data_roots`` in the app's secrets."""
    try:
        secrets = dict(st.secrets) if st.secrets else None
    except Exception:  # no secrets file is the normal case
        secrets = None
    return data_roots(secrets=secrets)


def hide_roots(text: str, roots: list[Path]) -> str:
    """``text`` (a message, a path) with every data root's full path replaced by the root's own name, so a
    visitor never sees where the server keeps its data."""
    for root in sorted(roots, key=lambda r: len(str(r)), reverse=True):
        text = str(text).replace(str(root), root.name or "data")
    return text
