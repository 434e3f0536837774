"""The sidebar's vector files (.npz, Parquet, Projector bundle), from a server path or this session's upload,
read within the app's limits. (16-core moves this into ``explorer.io.load``: then ``ui.sets._load_npz``
calls ``load_workset(VectorBytes(name, data))`` and this module goes.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

from explorer import limits
from explorer.io.interop import load_vectors
from explorer.io.store import load_embeddings
from ui import state

NPZ_UPLOAD_PREFIX = "upload:"


def read_npz(ref: str):
    """The EmbeddingFile for the sidebar's ``.npz`` choice, within the app's limits (explorer.limits.NPZ_*):
    shapes checked from the headers before reading, NaN/inf rows left out and reported in ``skipped``.
    Messages name the file by its bare name, never a server path. ValueError when it cannot be used.
    """
    held = state.held_vector_upload()
    if ref.startswith(NPZ_UPLOAD_PREFIX):
        if held is None or held[0] != ref:
            raise ValueError("the uploaded .npz is no longer in this session; upload it again")
        source, name = held[2], held[1]
    else:
        source, name = ref, PurePosixPath(ref).name
    if not name.lower().endswith(".npz"):
        return _read_vector_file(source, name)
    return load_embeddings(source, name=name, max_rows=limits.NPZ_MAX_ROWS, max_dims=limits.NPZ_MAX_DIMS,
                           max_bytes=limits.NPZ_MAX_BYTES, drop_non_finite=True)


def _read_vector_file(source: str | bytes, name: str):
    """A Parquet from ``export`` or a Projector bundle (tensors.tsv, or a ZIP of the folder), from a server path
    or an upload's bytes, held to the same row and dimension caps as an .npz (after reading: these formats
    have no header to check first; the upload size cap bounds what is read)."""
    if isinstance(source, bytes):  # written to a private folder only for the reader, removed at once
        with tempfile.TemporaryDirectory(prefix="fse-") as folder:
            path = Path(folder) / ("tensors.tsv" if name.lower().endswith(".tsv") else name)
            path.write_bytes(source)
            data = load_vectors(path)
    else:
        data = load_vectors(source)
    rows, dims = (data.vectors.shape + (0,))[:2]
    if rows > limits.NPZ_MAX_ROWS or dims > limits.NPZ_MAX_DIMS:
        raise ValueError(f"{name}: {rows:,} x {dims:,} vectors is more than this server takes "
                         f"({limits.NPZ_MAX_ROWS:,} rows, {limits.NPZ_MAX_DIMS:,} dimensions)")
    return data
