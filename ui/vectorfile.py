"""The sidebar's vector file (.npz, Parquet, Projector bundle) as ``explorer.io.load.load_workset`` reads it:
a server path, or this session's uploaded bytes (held in memory, never written to disk)."""

from __future__ import annotations

from explorer.io.load import VectorBytes
from ui import state

NPZ_UPLOAD_PREFIX = "upload:"


def vector_source(ref: str) -> str | VectorBytes:
    """The server path, or the session's upload as ``VectorBytes``; ValueError when the upload is gone."""
    if not ref.startswith(NPZ_UPLOAD_PREFIX):
        return ref
    held = state.held_vector_upload()
    if held is None or held[0] != ref:
        raise ValueError("the uploaded vector file is no longer in this session; upload it again")
    return VectorBytes(name=held[1], data=held[2])
