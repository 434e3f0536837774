"""Plotly figure builders for the explorer: maps, heatmaps, histograms and the pair inspector's charts.

Every builder returns a ``plotly.graph_objects.Figure``, computes nothing heavy (the numbers come in
ready-made), never calls ``show()`` and never imports streamlit. Every user string (file name, tag,
manifest value) that reaches hover text, legends or labels goes through :func:`escape_text` first.
"""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.imageset import tag_order

# Above this many points a 2D map uses WebGL (Scattergl): SVG makes one DOM node per point.
WEBGL_THRESHOLD = 1000
# Layout images are SVG <image> nodes; past a few thousand the browser's pan/zoom gets sluggish.
MAX_IMAGE_POINTS = 3000
# A qualitative palette long enough for many tags (Plotly's Dark24 then Light24, then cycled).
PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B",
    "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1",
    "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)
HOVER_HINT = "click: image and its neighbours"


def escape_text(value: object) -> str:
    """HTML-escape a user string for Plotly text and stop ``$`` from ever starting math mode.

    Quotes stay quotes: Plotly's text is not an attribute, and it decodes only a few named entities, so
    ``&quot;`` would show literally in a legend or trace name.
    """
    return html.escape(str(value), quote=False).replace("$", "&#36;")


def thumbnail_data_uri(jpeg: bytes) -> str:
    """A ``data:`` URI for JPEG bytes, so images travel inside the figure (no URL, works offline)."""
    from explorer.thumbs import data_uri

    return data_uri(jpeg, "image/jpeg")


def tag_colors(tags: Sequence[str]) -> dict[str, str]:
    """A stable colour per distinct tag, in first-seen order."""
    distinct = tag_order(tags)  # the order of the measures' tag charts too
    return {tag: PALETTE[i % len(PALETTE)] for i, tag in enumerate(distinct)}


# A column of whole numbers with at most this many distinct values (digit labels, ratings) stays categorical.
CATEGORICAL_MAX_INTEGERS = 12


def numeric_column(values: Sequence[str]) -> np.ndarray | None:
    """The column as floats (blank = NaN) when it reads as a continuous quantity, else None.

    Continuous: every non-blank cell is a finite number, and the numbers are not a handful of whole
    numbers (``"0"``..``"9"`` digit labels stay categories).
    """
    out = np.full(len(values), np.nan)
    for i, cell in enumerate(values):
        text = str(cell).strip()
        if not text:
            continue
        try:
            out[i] = float(text)
        except ValueError:
            return None
        if not np.isfinite(out[i]):
            return None
    present = out[~np.isnan(out)]
    if present.size == 0:
        return None
    if np.all(present == np.round(present)) and np.unique(present).size <= CATEGORICAL_MAX_INTEGERS:
        return None
    return out


def _check_coords(coords: np.ndarray, n: int | None = None) -> np.ndarray:
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] not in (2, 3):
        raise ValueError(f"coords must have shape (n, 2) or (n, 3), got {coords.shape}")
    if n is not None and coords.shape[0] != n:
        raise ValueError(f"coords has {coords.shape[0]} rows but {n} labels were given")
    return coords


def _hover_lines(sources: Sequence[str], tags: Sequence[str], tag_name: str) -> list[str]:
    name = escape_text(tag_name)
    return [f"<b>{escape_text(s)}</b><br>{name}: {escape_text(t)}" for s, t in zip(sources, tags)]


def _scatter(coords: np.ndarray, idx: np.ndarray, *, webgl: bool, **kwargs) -> go.BaseTraceType:
    """One point trace over rows ``idx``; ``customdata`` carries the row index for click handling."""
    common = dict(x=coords[idx, 0], y=coords[idx, 1], customdata=idx, **kwargs)
    if coords.shape[1] == 3:
        return go.Scatter3d(z=coords[idx, 2], **common)
    return (go.Scattergl if webgl else go.Scatter)(**common)


def map_figure(
    coords: np.ndarray,
    *,
    tags: Sequence[str],
    sources: Sequence[str],
    tag_name: str = "tag",
    values: np.ndarray | None = None,
    value_name: str = "value",
    highlight: Sequence[int] = (),
    focus: int | None = None,
    webgl: bool | None = None,
    title: str = "",
    height: int = 620,
) -> go.Figure:
    """The map: one point per image at ``coords`` (n, 2|3), coloured by tag or by ``values``.

    ``values`` (n,) floats in [0, 1] (e.g. neighbours kept) switch to a continuous colour scale; so do
    ``tags`` that are numbers (see :func:`numeric_column`), scaled to their own range with a colour bar.
    ``highlight`` rows are ringed (the focus image's neighbours), ``focus`` is starred. Rows whose
    coordinates are NaN (excluded by the projection) are left out. Each trace's ``customdata`` is the
    row index into the set, so a click maps back to an image whatever trace it hit.
    """
    coords = _check_coords(coords, len(tags))
    if len(sources) != len(tags):
        raise ValueError(f"sources has {len(sources)} entries but tags has {len(tags)}")
    n = len(tags)
    if webgl is None:
        webgl = n > WEBGL_THRESHOLD
    finite = np.isfinite(coords).all(axis=1)
    hover = np.array(_hover_lines(sources, tags, tag_name), dtype=object)
    size = 7 if n <= 500 else (5 if n <= 3000 else 3)
    template = "%{text}<br><i>" + HOVER_HINT + "</i><extra></extra>"
    fig = go.Figure()
    numeric = numeric_column(tags) if values is None else None
    if values is not None or numeric is not None:
        scale, cmin, cmax = "RdYlGn", 0.0, 1.0
        if numeric is not None:  # a numeric tag column: its own range, the value already in the hover
            values, value_name = numeric, tag_name
            scale, cmin, cmax = "Viridis", float(np.nanmin(numeric)), float(np.nanmax(numeric))
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(f"values must have shape ({n},), got {values.shape}")
        idx = np.flatnonzero(finite & ~np.isnan(values))
        text = [hover[i] if numeric is not None else f"{hover[i]}<br>{escape_text(value_name)}: {values[i]:.2f}"
                for i in idx]
        fig.add_trace(_scatter(coords, idx, webgl=webgl, mode="markers", text=text, hovertemplate=template,
                               name=escape_text(value_name), showlegend=False,
                               marker=dict(size=size, color=values[idx], colorscale=scale, cmin=cmin, cmax=cmax,
                                           colorbar=dict(title=dict(text=escape_text(value_name))))))
        blank = np.flatnonzero(finite & np.isnan(values))
        if blank.size:
            fig.add_trace(_scatter(coords, blank, webgl=webgl, mode="markers", name="no value",
                                   text=list(hover[blank]), hovertemplate=template,
                                   marker=dict(size=size, color="#BBBBBB", opacity=0.7)))
    else:
        colors = tag_colors(tags)
        tag_arr = np.asarray(tags, dtype=object)
        for tag, color in colors.items():
            idx = np.flatnonzero((tag_arr == tag) & finite)
            if idx.size == 0:
                continue
            fig.add_trace(_scatter(coords, idx, webgl=webgl, mode="markers", name=escape_text(tag),
                                   text=list(hover[idx]), hovertemplate=template,
                                   marker=dict(size=size, color=color, opacity=0.85)))
    _add_highlights(fig, coords, hover, finite, highlight, focus, webgl, size)
    _map_layout(fig, coords, title=title, height=height, legend_title=tag_name if values is None else "")
    if numeric is not None:  # the "no value" legend entry goes top left, clear of the colour bar
        fig.update_layout(legend=dict(x=0, y=1, xanchor="left", bgcolor="rgba(255,255,255,0.6)"))
    return fig


def _add_highlights(fig, coords, hover, finite, highlight, focus, webgl, size) -> None:
    template = "%{text}<extra></extra>"
    ring = np.array([i for i in highlight if 0 <= i < len(coords) and finite[i]], dtype=np.int64)
    if ring.size:
        fig.add_trace(_scatter(coords, ring, webgl=webgl, mode="markers", name="neighbours",
                               text=list(hover[ring]), hovertemplate=template,
                               marker=dict(size=size + 8, color="rgba(0,0,0,0)",
                                           line=dict(color="black", width=2))))
    if focus is not None and 0 <= focus < len(coords) and finite[focus]:
        idx = np.array([focus], dtype=np.int64)
        fig.add_trace(_scatter(coords, idx, webgl=webgl, mode="markers", name="selected image",
                               text=list(hover[idx]), hovertemplate=template,
                               marker=dict(size=size + 12, color="gold", symbol="diamond",
                                           line=dict(color="black", width=2))))


def _map_layout(fig: go.Figure, coords: np.ndarray, *, title: str, height: int, legend_title: str) -> None:
    fig.update_layout(
        title=dict(text=escape_text(title)) if title else None,
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        legend=dict(title=dict(text=escape_text(legend_title)), itemsizing="constant"),
        dragmode="pan" if coords.shape[1] == 2 else "orbit",
        hovermode="closest", uirevision="map",
    )
    if coords.shape[1] == 2:
        # Map axes carry no units: hide ticks, keep the aspect so distances look like distances.
        fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
        fig.update_yaxes(showticklabels=False, title=None, zeroline=False, scaleanchor="x", scaleratio=1)
    else:
        axis = dict(showticklabels=False, title="")
        fig.update_layout(scene=dict(xaxis=axis, yaxis=axis, zaxis=axis))


def images_figure(
    coords: np.ndarray,
    thumbnail_uris: Sequence[str],
    *,
    tags: Sequence[str],
    sources: Sequence[str],
    tag_name: str = "tag",
    max_images: int = MAX_IMAGE_POINTS,
    image_fraction: float = 0.035,
    height: int = 620,
) -> tuple[go.Figure, str]:
    """The map with each image drawn at its 2D coordinates (layout images from data-URI JPEGs).

    Returns the figure and a note ("" when every image is drawn). Beyond ``max_images`` images only
    an evenly spaced subset is drawn as pictures; all points stay as small dots for hover and click.
    ``image_fraction`` is each picture's side as a fraction of the larger map extent.
    """
    coords = _check_coords(coords, len(tags))
    if coords.shape[1] != 2:
        raise ValueError("images as points needs a 2D map (coords of shape (n, 2))")
    if len(thumbnail_uris) != len(tags):
        raise ValueError(f"{len(thumbnail_uris)} thumbnails for {len(tags)} points")
    fig = map_figure(coords, tags=tags, sources=sources, tag_name=tag_name, webgl=len(tags) > WEBGL_THRESHOLD,
                     height=height)
    for trace in fig.data:
        trace.marker.size = 4
        trace.marker.opacity = 0.5
    finite = np.flatnonzero(np.isfinite(coords).all(axis=1))
    note = ""
    if finite.size > max_images:
        pick = np.linspace(0, finite.size - 1, max_images).round().astype(np.int64)
        note = (f"Drawing {max_images:,} of {finite.size:,} images as pictures (evenly spread); "
                "the rest are dots. Zoom in or filter the set to see them all.")
        finite = finite[pick]
    if finite.size:
        span = np.nanmax(coords, axis=0) - np.nanmin(coords, axis=0)
        side = float(max(span.max(), 1e-9) * image_fraction)
        fig.update_layout(images=[
            dict(source=thumbnail_uris[i], xref="x", yref="y", x=float(coords[i, 0]), y=float(coords[i, 1]),
                 sizex=side, sizey=side, xanchor="center", yanchor="middle", layer="above", sizing="contain")
            for i in finite
        ])
    return fig, note


def mosaic_figure(
    coords: np.ndarray,
    mosaic_uri: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    *,
    tags: Sequence[str],
    sources: Sequence[str],
    tag_name: str = "tag",
    height: int = 620,
) -> go.Figure:
    """The map with every image drawn, from one pre-composed picture (see ``explorer.mosaic``).

    The picture lies under the dots and is stretched onto ``x_range`` x ``y_range`` (data units); the
    axes keep one unit per unit so sprites stay square. Dots stay small and half transparent, for
    hover and click.
    """
    fig = map_figure(coords, tags=tags, sources=sources, tag_name=tag_name,
                     webgl=len(tags) > WEBGL_THRESHOLD, height=height)
    for trace in fig.data:
        trace.marker.size = 3
        trace.marker.opacity = 0.35
    (x0, x1), (y0, y1) = x_range, y_range
    fig.update_layout(images=[dict(source=mosaic_uri, xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0,
                                   sizey=y1 - y0, xanchor="left", yanchor="top", sizing="stretch",
                                   layer="below")])
    # constrain="domain": keep these ranges and shrink the plot area instead, so no sprite is cut off.
    fig.update_xaxes(range=[x0, x1], constrain="domain")
    fig.update_yaxes(range=[y0, y1], scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def order_by_tag(tags: Sequence[str]) -> np.ndarray:
    """Row order grouping equal tags together (tags in first-seen order, rows stable within a tag)."""
    rank = {t: i for i, t in enumerate(dict.fromkeys(tags))}
    return np.array(sorted(range(len(tags)), key=lambda i: (rank[tags[i]], i)), dtype=np.int64)


def similarity_heatmap(
    similarity: np.ndarray, *, tags: Sequence[str], sources: Sequence[str], height: int = 650
) -> go.Figure:
    """Cosine similarity matrix (n, n) drawn in the row order given; tag blocks marked on the axes.

    Callers pass the matrix already ordered (see :func:`order_by_tag`). Hover names both images and
    the value; each axis label is ``"i· source (tag)"`` so labels stay unique.
    """
    similarity = np.asarray(similarity, dtype=np.float32)
    n = len(tags)
    if similarity.shape != (n, n):
        raise ValueError(f"similarity must have shape ({n}, {n}), got {similarity.shape}")
    labels = [f"{i}· {escape_text(s)} ({escape_text(t)})" for i, (s, t) in enumerate(zip(sources, tags))]
    starts = [i for i in range(n) if i == 0 or tags[i] != tags[i - 1]]
    fig = go.Figure(go.Heatmap(
        z=similarity, x=labels, y=labels, colorscale="Viridis", zmin=-1 if similarity.min() < 0 else 0, zmax=1,
        colorbar=dict(title=dict(text="cosine<br>similarity")),
        hovertemplate="%{y}<br>%{x}<br>cosine similarity: %{z:.3f}<extra></extra>",
    ))
    ticks = dict(tickmode="array", tickvals=[labels[i] for i in starts], ticktext=[escape_text(tags[i]) for i in starts])
    fig.update_xaxes(type="category", **ticks, tickangle=-45)
    fig.update_yaxes(type="category", autorange="reversed", **ticks)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def tag_matrix_heatmap(matrix: np.ndarray, tag_order: Sequence[str], *, colorbar_title: str, hovertemplate: str,
                       x_title: str = "tag", y_title: str = "tag", zrange: tuple[float, float] | None = None,
                       height: int = 480) -> go.Figure:
    """A (t, t) matrix over tags, rows top to bottom in ``tag_order``, the value written in each cell."""
    matrix = np.asarray(matrix, dtype=np.float64)
    t = len(tag_order)
    if matrix.shape != (t, t):
        raise ValueError(f"matrix must have shape ({t}, {t}), got {matrix.shape}")
    names = [escape_text(x) for x in tag_order]
    zmin, zmax = zrange if zrange is not None else (None, None)
    fig = go.Figure(go.Heatmap(
        z=matrix, x=names, y=names, colorscale="Viridis", zmin=zmin, zmax=zmax, text=np.round(matrix, 2),
        texttemplate="%{text}", colorbar=dict(title=dict(text=colorbar_title)), hovertemplate=hovertemplate,
    ))
    fig.update_xaxes(type="category", title=x_title)
    fig.update_yaxes(type="category", autorange="reversed", title=y_title)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def tag_similarity_figure(matrix: np.ndarray, tag_order: Sequence[str], *, height: int = 480) -> go.Figure:
    """Mean cosine similarity between every pair of tags, (t, t), with the value written in each cell."""
    return tag_matrix_heatmap(matrix, tag_order, colorbar_title="mean<br>similarity", height=height,
                              hovertemplate="%{y} vs %{x}<br>mean cosine similarity: %{z:.3f}<extra></extra>")


def distance_histograms(same: np.ndarray, different: np.ndarray, *, bins: int = 60, height: int = 380) -> go.Figure:
    """Overlaid, density-normalised histograms of cosine distances for same-tag and different-tag pairs."""
    same = np.asarray(same, dtype=np.float64).ravel()
    different = np.asarray(different, dtype=np.float64).ravel()
    both = np.concatenate([same, different])
    if both.size == 0:
        raise ValueError("no distances to draw: need at least one pair")
    lo, hi = float(both.min()), float(both.max())
    step = max((hi - lo) / bins, 1e-6)
    fig = go.Figure()
    for name, values, color in (("same tag", same, "#1CA71C"), ("different tags", different, "#E15F99")):
        if values.size:
            fig.add_trace(go.Histogram(x=values, name=f"{name} ({values.size:,} pairs)", histnorm="probability density",
                                       xbins=dict(start=lo, end=hi + step, size=step), opacity=0.6,
                                       marker_color=color))
    fig.update_layout(barmode="overlay", height=height, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title="cosine distance (0 = same direction, 1 = unrelated, 2 = opposite)",
                      yaxis_title="share of pairs (density)", legend=dict(yanchor="top", y=0.99, x=0.01))
    return fig


def contribution_bars(
    contributions: np.ndarray, *, top: int = 20, dim_labels: Sequence[str] | None = None, height: int = 380
) -> go.Figure:
    """The ``top`` dimensions by absolute contribution to the cosine similarity, largest first.

    ``contributions`` (d,) are the per-dimension products of the two normalised vectors; they sum
    to cos θ, so a bar says how much that dimension adds to (or takes from) the similarity.
    """
    contributions = np.asarray(contributions, dtype=np.float64).ravel()
    if dim_labels is not None and len(dim_labels) != contributions.size:
        raise ValueError(f"dim_labels has {len(dim_labels)} entries for {contributions.size} dimensions")
    order = np.argsort(-np.abs(contributions), kind="stable")[: max(1, top)]
    labels = [escape_text(dim_labels[i]) if dim_labels is not None else f"dim {i}" for i in order]
    values = contributions[order]
    fig = go.Figure(go.Bar(
        x=labels, y=values, marker_color=["#1CA71C" if v >= 0 else "#FB0D0D" for v in values],
        hovertemplate="%{x}<br>adds %{y:.4f} to cos θ<extra></extra>",
    ))
    fig.update_xaxes(type="category", title="dimension")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="contribution to cos θ")
    return fig


def pixel_contribution_figure(grid: np.ndarray, *, height: int = 360) -> go.Figure:
    """Per-pixel contribution to cos θ drawn back on the image grid (h, w); red adds, blue takes away."""
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 2:
        raise ValueError(f"grid must be 2-D (h, w), got shape {grid.shape}")
    bound = float(np.abs(grid).max()) or 1.0
    fig = go.Figure(go.Heatmap(
        z=grid, colorscale="RdBu", reversescale=True, zmin=-bound, zmax=bound,
        colorbar=dict(title=dict(text="adds to<br>cos θ")),
        hovertemplate="row %{y}, col %{x}<br>adds %{z:.5f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1, showticklabels=False)
    fig.update_xaxes(showticklabels=False, constrain="domain")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig
