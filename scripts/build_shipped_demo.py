"""Rebuild the results shipped for the default demo (assets/precomputed/): run after changing the demo's
drawing, the default embedder or t-SNE, when tests/test_shipped.py says the shipped files are stale.

Run: python scripts/build_shipped_demo.py
Computes them exactly as the app does (explorer.io.load, explorer.projection.project with the app's
default map settings) and writes one .npz per (demo, embedder), keyed by the set+embedder content key.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.embedders import get_embedder  # noqa: E402
from explorer.io.load import embed_workset, load_workset  # noqa: E402
from explorer.io.shipped import SHIPPED_DIR, MapParams, save_shipped  # noqa: E402
from explorer.projection import project  # noqa: E402

# The app's first screen: ui.state.DEFAULT_SOURCE / DEFAULT_EMBEDDER, ui.map_view's default t-SNE settings.
SHIPPED = [("demo:hands", "hog", MapParams("tsne", 2, 30.0, 0), True)]


def build(source: str, embedder: str, params: MapParams, with_vectors: bool) -> Path:
    ws = embed_workset(load_workset(source), get_embedder(embedder), use_shipped=False)
    proj = project(ws.vectors, method=params.method, n_components=params.dims, random_state=params.seed,
                   perplexity=params.perplexity if params.perplexity is not None else 30.0)
    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    path = SHIPPED_DIR / f"{source.replace(':', '-')}-{embedder}.npz"
    save_shipped(path, ws.key, vectors=ws.vectors if with_vectors else None, maps={params: proj})
    return path


if __name__ == "__main__":
    for spec in SHIPPED:
        written = build(*spec)
        print(f"wrote {written} ({written.stat().st_size / 1024:.0f} KiB)")
