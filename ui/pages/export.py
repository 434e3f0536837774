"""The export page: download the map, the embeddings, a Projector bundle, a standalone HTML map, the selection.

Every file is built only when its button is pressed (deferred ``data=`` callables), from the same cached
projection and vectors the other pages use; the writers live in ``explorer.io.export``.
"""

from __future__ import annotations

import re

import numpy as np
import streamlit as st

from explorer.io import export
from explorer.measures import neighbours_kept
from explorer.projection import available_methods
from explorer.workset import WorkSet
from ui.compute import get_projection, memo
from ui.current import current_set, describe, export_rows, selection_csv
from ui.map_view import has_coordinates
from ui.safe import md
from ui.state import map_settings, selected_rows, tag_column

METHOD_NAMES = {"pca": "PCA (instant, linear)", "tsne": "t-SNE (keeps neighbourhoods)", "umap": "UMAP",
                "given": "as given (the set's x, y columns)"}
KEPT_K = 10

st.markdown("## Export")
ws = current_set()
if ws is None:
    st.stop()
st.caption(f"{describe(ws)}. Files are made when you press a button; nothing leaves this server otherwise.")


def file_stem(ws: WorkSet) -> str:
    stem = re.sub(r"[^\w\-]+", "_", f"{ws.name}-{ws.embedder_name}").strip("_")
    return stem[:80] or "export"


rows = export_rows(ws)
stem = file_stem(ws)

# ----------------------------------------------------------------------------------------- the map
st.markdown("### The map")
methods = available_methods() + (["given"] if has_coordinates(ws) else [])
# Start from the map last drawn on the Map page (its widgets' own state is gone once that page is left).
last = map_settings()
last_method, last_dims, last_perplexity = last.method, last.dims, last.perplexity
last_method = last_method if last_method in methods else ("tsne" if "tsne" in methods else methods[0])
c = st.columns([1.6, 0.8, 1.4])
method = c[0].selectbox("Projection", methods, index=methods.index(last_method),
                        format_func=lambda m: METHOD_NAMES.get(m, m), key="export_method",
                        help="The same projection (and cache) as the Map page with these settings.")
dims = int(c[1].radio("View", [2, 3], index=[2, 3].index(int(last_dims)), format_func=lambda d: f"{d}D",
                      horizontal=True, key="export_dims"))
perplexity = float(c[2].slider("Perplexity (t-SNE)", 5, 100, int(last_perplexity), key="export_perplexity",
                               disabled=method != "tsne"))
try:
    with st.spinner("Projecting the set…"):
        proj = get_projection(ws, method=method, dims=dims, perplexity=perplexity)
except ValueError as exc:
    st.error(f"Cannot draw this map: {md(exc, max_length=300)}")
    st.stop()


def _kept() -> np.ndarray:
    out = np.full(len(ws), np.nan)
    on_map = np.isfinite(proj.coords).all(axis=1)
    if on_map.sum() > 3:
        out[on_map] = neighbours_kept(ws.vectors[on_map], proj.coords[on_map], k=min(KEPT_K, int(on_map.sum()) - 1))
    return out


params = repr(sorted(proj.params.items(), key=str))
coords = proj.coords
kept_key = ("export-kept", ws.key, proj.method, params, dims)


def map_bytes(fmt: str) -> bytes:
    kept = memo("other", kept_key, _kept)
    return export.map_table_bytes(export.map_frame(rows, coords, kept), fmt)


def html_bytes() -> bytes:
    page = export.html_map(rows, coords, title=f"{ws.name} · {ws.embedder_name}", tag_column=tag_column(ws),
                           method_note=f"{METHOD_NAMES.get(proj.method, proj.method)} map")
    return page.encode("utf-8")


columns = ["id", "source", "tag", "x", "y"] + (["z"] if dims == 3 else []) + ["neighbours_kept"]
st.caption(f"One row per image: {', '.join(columns)} and every other tag column "
           f"({', '.join(k for k in ws.columns if k != 'tag') or 'none here'}).")
b = st.columns(3)
b[0].download_button("Map (CSV)", lambda: map_bytes("csv"), file_name=f"{stem}-map.csv", mime="text/csv",
                     on_click="ignore", key="dl_map_csv")
b[1].download_button("Map (Parquet)", lambda: map_bytes("parquet"), file_name=f"{stem}-map.parquet",
                     mime="application/vnd.apache.parquet", on_click="ignore", key="dl_map_parquet")
b[2].download_button("Standalone HTML map", html_bytes, file_name=f"{stem}-map.html", mime="text/html",
                     on_click="ignore", key="dl_map_html",
                     help="One file that opens offline in any browser: the map coloured by "
                          f"{tag_column(ws)}, hover for names, click for the image.")

# ----------------------------------------------------------------------------------------- embeddings
st.markdown("### The embeddings")
st.caption(f"{ws.vectors.shape[0]:,} vectors of {ws.vectors.shape[1]:,} numbers. The .npz and Parquet load back "
           "here (sidebar: precomputed embeddings) and in python -m explorer; the ZIP is a TensorFlow "
           "Embedding Projector bundle (tensors.tsv, metadata.tsv"
           + (", sprite.png" if rows.thumbnails else "") + ", projector_config.json).")
b = st.columns(3)
b[0].download_button("Embeddings (.npz)", lambda: export.npz_bytes(rows), file_name=f"{stem}.npz",
                     mime="application/octet-stream", on_click="ignore", key="dl_npz")
b[1].download_button("Embeddings (Parquet)", lambda: export.embeddings_parquet_bytes(rows),
                     file_name=f"{stem}.parquet", mime="application/vnd.apache.parquet", on_click="ignore",
                     key="dl_parquet")
b[2].download_button("Projector bundle (ZIP)",
                     lambda: export.zip_bytes(export.projector_files(rows, tensor_name=f"{ws.name} ({ws.embedder_name})")),
                     file_name=f"{stem}-projector.zip", mime="application/zip", on_click="ignore", key="dl_projector")

# ----------------------------------------------------------------------------------------- selection
st.markdown("### The selection")
selected = selected_rows(ws)
if not selected:
    st.info("Nothing selected: drag a box or lasso on the Map page to choose images, then come back here.")
else:
    st.caption(f"{len(selected):,} images selected on the Map page.")
    b = st.columns(3)
    b[0].download_button("Selection (CSV)", lambda: selection_csv(ws, selected),
                         file_name=f"{stem}-selection.csv", mime="text/csv", on_click="ignore", key="dl_sel_csv")
    if rows.thumbnails is not None:
        b[1].download_button("Selected images (ZIP)", lambda: export.selection_images_zip(rows, selected),
                             file_name=f"{stem}-selection.zip", mime="application/zip", on_click="ignore",
                             key="dl_sel_zip", help="One folder per tag; each image as the thumbnail the app keeps.")
