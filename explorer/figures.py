"""Plotly figure builders for the explorer: maps, heatmaps, histograms and the pair inspector's charts.

Every builder returns a ``plotly.graph_objects.Figure``, computes nothing heavy (the numbers come in
ready-made), never calls ``show()`` and never imports streamlit. Every user string (file name, tag,
manifest value) that reaches hover text, legends or labels goes through :func:`escape_text` first.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from explorer import palette
from explorer.imageset import tag_order
from explorer.thumbs import data_uri

# Above this many points a 2D map uses WebGL (Scattergl): SVG makes one DOM node per point.
WEBGL_THRESHOLD = 1000
# Layout images are SVG <image> nodes; past a few thousand the browser's pan/zoom gets sluggish.
MAX_IMAGE_POINTS = 3000
# Tag colours: see explorer.palette (30 colours, CIEDE2000 >= 15 apart, readable on white).
PALETTE = palette.PALETTE
HOVER_HINT = "click: image and its neighbours"


def escape_text(value: object) -> str:
    """HTML-escape a user string for Plotly text and stop ``$`` from ever starting math mode.

    Quotes stay quotes: Plotly's text is not an attribute, and it decodes only a few named entities, so
    ``&quot;`` would show literally in a legend or trace name.
    """
    return html.escape(str(value), quote=False).replace("$", "&#36;")


def thumbnail_data_uri(jpeg: bytes) -> str:
    """A ``data:`` URI for JPEG bytes, so images travel inside the figure (no URL, works offline)."""
    return data_uri(jpeg, "image/jpeg")


def colors_for(tags: Sequence[str], colors: Mapping[str, str] | None) -> dict[str, str]:
    """``colors`` (computed once for a whole set, so pages agree) restricted to ``tags``, else the default."""
    if colors is None:
        return palette.tag_colors(tags)
    distinct = tag_order(tags)
    spare = [c for c in PALETTE if c not in set(colors.values())] or list(PALETTE)
    missing = [t for t in distinct if t not in colors]
    extra = {t: spare[i % len(spare)] for i, t in enumerate(missing)}
    return {t: colors.get(t) or extra[t] for t in distinct}


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


def hover_lines(sources: Sequence[str], tags: Sequence[str], tag_name: str) -> list[str]:
    """The escaped hover text of each point (its name in bold, then its tag): the same for every map layer."""
    return _hover_lines(sources, tags, tag_name)


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
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """The map: one point per image at ``coords`` (n, 2|3), coloured by tag or by ``values``.

    ``colors`` (tag -> colour, from :func:`explorer.palette.tag_colors` over the whole set) keeps a tag's colour the
    same on every page; by default colours follow the first-seen order of ``tags``.

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
                                           colorbar=MAP_COLORBAR | dict(title=dict(text=escape_text(value_name), side="right")))))
        blank = np.flatnonzero(finite & np.isnan(values))
        if blank.size:
            fig.add_trace(_scatter(coords, blank, webgl=webgl, mode="markers", name="no value",
                                   text=list(hover[blank]), hovertemplate=template,
                                   marker=dict(size=size, color="#BBBBBB", opacity=0.7)))
    else:
        tag_arr = np.asarray(tags, dtype=object)
        for tag, color in colors_for(tags, colors).items():
            idx = np.flatnonzero((tag_arr == tag) & finite)
            if idx.size == 0:
                continue
            fig.add_trace(_scatter(coords, idx, webgl=webgl, mode="markers", name=escape_text(tag),
                                   text=list(hover[idx]), hovertemplate=template,
                                   marker=dict(size=size, color=color, opacity=0.85)))
    _add_highlights(fig, coords, hover, finite, highlight, focus, webgl, size)
    _map_layout(fig, coords, title=title, height=height, legend_title=tag_name if values is None else "")
    if values is not None:  # the colour bar owns the right edge: the "no value" entry goes under the plot
        fig.update_layout(legend=BELOW_PLOT_LEGEND)
    return fig


# A map coloured by values: its colour bar stands right of the plot, its title turned along the bar (a title
# on top runs into the top tick label), and its legend ("no value") goes under the plot.
MAP_COLORBAR = dict(x=1.0, xanchor="left", xpad=10, y=0.5, yanchor="middle", len=0.8, thickness=14)
ABOVE_PLOT_LEGEND = dict(orientation="h", x=0.0, xanchor="left", y=1.02, yanchor="bottom")
BELOW_PLOT_LEGEND = dict(orientation="h", x=0.0, xanchor="left", y=-0.02, yanchor="top", title=dict(text=""))


def _add_highlights(fig, coords, hover, finite, highlight, focus, webgl, size) -> None:
    """Ring the neighbours, star the focus. Neither enters the legend: a click must not grow the legend and
    so shrink the plot (the side panel names them, and so does their hover)."""
    ring = np.array([i for i in highlight if 0 <= i < len(coords) and finite[i]], dtype=np.int64)
    if ring.size:
        fig.add_trace(_scatter(coords, ring, webgl=webgl, mode="markers", name="neighbours", showlegend=False,
                               text=list(hover[ring]), hovertemplate="%{text}<br><i>a neighbour of the selected "
                                                                     "image</i><extra></extra>",
                               marker=dict(size=size + 8, color="rgba(0,0,0,0)",
                                           line=dict(color="black", width=2))))
    if focus is not None and 0 <= focus < len(coords) and finite[focus]:
        idx = np.array([focus], dtype=np.int64)
        fig.add_trace(_scatter(coords, idx, webgl=webgl, mode="markers", name="selected image", showlegend=False,
                               text=list(hover[idx]), hovertemplate="%{text}<br><i>the selected image</i>"
                                                                    "<extra></extra>",
                               marker=dict(size=size + 12, color="gold", symbol="diamond",
                                           line=dict(color="black", width=2))))


# Room above the plot for a title and Plotly's toolbar, reserved whether or not a title is drawn: the
# toolbar then never covers the legend, and a map with a title (the t-SNE preview) and without one (the
# final map) have the same plot area, so nothing jumps when one replaces the other.
MAP_TOP_MARGIN = 44
# Room around the points, as a share of their extent: the widest marker (the selected image's) stays inside.
MAP_PAD = 0.05


def map_ranges(coords: np.ndarray) -> list[tuple[float, float]]:
    """Fixed axis ranges (one per column of ``coords``) around the finite points, ``MAP_PAD`` of the extent
    each side. Fixed, not autoranged: ringing a neighbour or starring a click adds bigger markers, and
    autorange would widen the axes for them, so the whole map would rescale on a click."""
    finite = coords[np.isfinite(coords).all(axis=1)]
    if finite.size == 0:
        return [(-1.0, 1.0)] * coords.shape[1]
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    pad = np.maximum(MAP_PAD * (hi - lo), 1e-6 * np.maximum(np.abs(lo), 1.0))
    return [(float(a), float(b)) for a, b in zip(lo - pad, hi + pad)]


def _map_layout(fig: go.Figure, coords: np.ndarray, *, title: str, height: int, legend_title: str) -> None:
    fig.update_layout(
        title=dict(text=escape_text(title), y=0.99, yanchor="top") if title else None,
        height=height, margin=dict(l=10, r=10, t=MAP_TOP_MARGIN, b=10),
        legend=dict(title=dict(text=escape_text(legend_title)), itemsizing="constant", yanchor="top", y=1.0),
        dragmode="pan" if coords.shape[1] == 2 else "orbit",
        hovermode="closest", uirevision="map",
    )
    ranges = map_ranges(coords)
    if coords.shape[1] == 2:
        # Map axes carry no units: hide ticks, keep the aspect so distances look like distances.
        fig.update_xaxes(showticklabels=False, title=None, zeroline=False, range=ranges[0])
        fig.update_yaxes(showticklabels=False, title=None, zeroline=False, scaleanchor="x", scaleratio=1,
                         range=ranges[1])
    else:
        x, y, z = (dict(showticklabels=False, title="", range=r) for r in ranges)
        fig.update_layout(scene=dict(xaxis=x, yaxis=y, zaxis=z))


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
    colors: Mapping[str, str] | None = None,
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
                     height=height, colors=colors)
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
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """The map with every image drawn, from one pre-composed picture (see ``explorer.mosaic``).

    The picture lies under the dots and is stretched onto ``x_range`` x ``y_range`` (data units); the
    axes keep one unit per unit so sprites stay square. Dots stay small and half transparent, for
    hover and click.
    """
    fig = map_figure(coords, tags=tags, sources=sources, tag_name=tag_name,
                     webgl=len(tags) > WEBGL_THRESHOLD, height=height, colors=colors)
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


def order_by_tag(tags: Sequence[str], tag_order: Sequence[str] | None = None) -> np.ndarray:
    """Row order grouping equal tags together (tags in ``tag_order``, else first-seen; rows stable within a tag)."""
    rank = {t: i for i, t in enumerate(dict.fromkeys(list(tag_order or []) + list(tags)))}
    return np.array(sorted(range(len(tags)), key=lambda i: (rank[tags[i]], i)), dtype=np.int64)


def related_order(similarity: np.ndarray, groups: Sequence[str] | None = None, *,
                  group_order: Sequence[str] = ()) -> list[int]:
    """An order of t items (tags) that puts related ones side by side.

    ``similarity`` (t, t): larger = more related (mean cosine similarity, or a symmetrised neighbour
    share); it is symmetrised and its diagonal ignored. With ``groups`` (one label per item) the groups
    come in ``group_order`` (then first-seen order) and items are ordered within their group; the order inside a group (or of
    everything, without groups) is the leaf order of average-linkage clustering with optimal leaf ordering.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    M = np.asarray(similarity, dtype=np.float64)
    t = M.shape[0]
    if M.shape != (t, t):
        raise ValueError(f"similarity must be square, got {M.shape}")
    if groups is not None and len(groups) != t:
        raise ValueError(f"groups has {len(groups)} entries for {t} items")
    M = (M + M.T) / 2
    off = ~np.eye(t, dtype=bool)
    fill = np.nanmin(M[off]) if t > 1 and np.isfinite(M[off]).any() else 0.0
    M = np.where(np.isfinite(M), M, fill)
    members: dict[str, list[int]] = {str(g): [] for g in group_order}
    for i in range(t):
        members.setdefault("" if groups is None else str(groups[i]), []).append(i)
    order: list[int] = []
    for rows in members.values():
        if len(rows) < 3:  # also skips the groups of group_order that have no item here
            order += rows
            continue
        sub = M[np.ix_(rows, rows)]
        dist = np.clip(sub[off[: len(rows), : len(rows)]].max() - sub, 0, None)
        np.fill_diagonal(dist, 0.0)
        leaves = leaves_list(linkage(squareform(dist, checks=False), method="average", optimal_ordering=True))
        order += [rows[i] for i in leaves]
    return order


@dataclass(frozen=True)
class CentredScale:
    """A diverging colour scale centred on a meaningful ``reference`` value, ``half`` wide each side.

    ``spread`` is how far the data actually reach from the reference (98th percentile of the absolute
    difference); ``half`` is never below the floor it was built with, so a tiny difference stays faint.
    """

    reference: float
    half: float
    spread: float
    reference_name: str
    floor: float

    @property
    def bounds(self) -> tuple[float, float]:
        return self.reference - self.half, self.reference + self.half

    def note(self, what: str = "cosine similarity") -> str:
        """The scale in words, for a caption under the chart."""
        lo, hi = self.bounds
        text = (f"Colour shows {what} relative to {self.reference:.3f}, the {self.reference_name}: red = more "
                f"similar than that, blue = less, white = equal. The scale runs {lo:.3f} to {hi:.3f} "
                f"(±{self.half:.3f}); values beyond it get the end colours.")
        if self.spread < self.floor:
            text += (f" The differences here reach only ±{self.spread:.3f}: they are drawn faint on a scale of "
                     f"at least ±{self.floor:.2f}, not stretched to full colour.")
        return text


def centred_scale(values: np.ndarray, reference: float, *, reference_name: str, floor: float = 0.05,
                  quantile: float = 98.0) -> CentredScale:
    """A :class:`CentredScale` around ``reference`` wide enough for ``values`` (the ``quantile`` of |v - ref|)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if not np.isfinite(reference):
        raise ValueError("reference must be a finite number")
    spread = float(np.percentile(np.abs(v - reference), quantile)) if v.size else 0.0
    return CentredScale(float(reference), max(spread, floor), spread, reference_name, floor)


def different_tag_mean(similarity: np.ndarray, tags: Sequence[str]) -> float | None:
    """Mean similarity over pairs of images with different tags (None when every image has one tag)."""
    tag_arr = np.asarray(tags, dtype=object)
    mask = tag_arr[:, None] != tag_arr[None, :]
    return float(np.asarray(similarity)[mask].mean()) if mask.any() else None


def _centred_colors(scale: CentredScale, title: str) -> dict:
    """Diverging colours around ``scale``'s reference. The colour bar's ticks are bare numbers (long tick
    labels squeeze the plot); its title, running along the bar, says which value is white. What that value
    is (``scale.reference_name``) is said under the chart (:meth:`CentredScale.note`): a title longer than
    a short bar would run off the chart."""
    lo, hi = scale.bounds
    ref = scale.reference
    name = f"{title.replace('<br>', ' ')} (white = {ref:.3f})"
    return dict(colorscale="RdBu", reversescale=True, zmin=lo, zmax=hi, zmid=ref, colorbar=dict(
        title=dict(text=name, side="right"), tickmode="array", tickvals=[lo, ref, hi], thickness=14,
        ticktext=[f"{lo:.3f}", f"{ref:.3f}", f"{hi:.3f}"]))


def similarity_heatmap(
    similarity: np.ndarray, *, tags: Sequence[str], sources: Sequence[str], scale: CentredScale | None = None,
    height: int = 650,
) -> go.Figure:
    """Cosine similarity matrix (n, n) drawn in the row order given; tag blocks marked on the axes.

    Callers pass the matrix already ordered (see :func:`order_by_tag`). Colours are centred on
    ``scale`` (by default the mean different-tag similarity, so a bright block means "more alike than
    two images of different tags usually are"); the colour bar gives its ends and the value drawn white. Hover names both images
    and the value; each axis label is ``"i· source (tag)"`` so labels stay unique.
    """
    similarity = np.asarray(similarity, dtype=np.float32)
    n = len(tags)
    if similarity.shape != (n, n):
        raise ValueError(f"similarity must have shape ({n}, {n}), got {similarity.shape}")
    if scale is None:
        ref = different_tag_mean(similarity, tags)
        off = similarity[~np.eye(n, dtype=bool)]
        scale = centred_scale(off, ref if ref is not None else float(off.mean() if off.size else 0.0),
                              reference_name="mean different-tag similarity" if ref is not None else "mean similarity")
    labels = [f"{i}· {escape_text(s)} ({escape_text(t)})" for i, (s, t) in enumerate(zip(sources, tags))]
    starts = [i for i in range(n) if i == 0 or tags[i] != tags[i - 1]]
    fig = go.Figure(go.Heatmap(
        z=similarity, x=labels, y=labels, **_centred_colors(scale, "cosine<br>similarity"),
        hovertemplate="%{y}<br>%{x}<br>cosine similarity: %{z:.3f}<extra></extra>",
    ))
    ticks = dict(tickmode="array", tickvals=[labels[i] for i in starts], ticktext=[escape_text(tags[i]) for i in starts])
    fig.update_xaxes(type="category", **ticks, tickangle=-45)
    fig.update_yaxes(type="category", autorange="reversed", **ticks)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), font=dict(size=14))
    return fig


# How wide a chart is drawn, at the narrowest screen the app is laid out for (1280x800, sidebar open):
# the main column is about 820 px there, half of it (st.columns(2)) about 400. A chart does not know its
# width (Streamlit stretches it to the column), so a builder that must decide whether text fits is told.
FULL_COLUMN_PX = 780
HALF_COLUMN_PX = 380
# The smallest text drawn anywhere (a cell value, a tick label) and the default chart text size.
MIN_TEXT_PX = 12
CHART_TEXT_PX = 14
# Width of a character as a share of the font size, a little above what Chromium measures for the UI's
# sans-serif (digits 0.50 em, "%" 0.83, lower-case letters 0.40-0.50), so "fits" errs on hiding text.
CHAR_EM = 0.58
NARROW_EM = {".": 0.3, ",": 0.3, " ": 0.3, ":": 0.3, "%": 0.9, "–": 0.6, "−": 0.62, "(": 0.35, ")": 0.35}
CELL_PAD_PX = 6


def text_px(text: str, size: float) -> float:
    """Estimated width in px of one line of ``text`` at font ``size`` px (an HTML entity counts as one
    character; markup such as a swatch's ``<span>`` is not text and is skipped)."""
    plain = html.unescape(re.sub(r"<[^>]*>", "", str(text)))
    return sum(NARROW_EM.get(c, 0.75 if c.isupper() else CHAR_EM) for c in plain) * size


@dataclass(frozen=True)
class MatrixFit:
    """How a (t, t) matrix fits the width it is drawn at: cell size, and which texts it can carry.

    ``text_size`` is the cell values' font size (0: cells too small for values; hover gives them);
    ``x_angle`` the x tick labels' angle (None: the columns are too narrow to label; rows name them).
    """

    cell_px: float
    text_size: int
    x_angle: int | None


def matrix_fit(t: int, labels: Sequence[str], cell_texts: Sequence[str], *, width: int, colorbar_px: float,
               font_size: int = CHART_TEXT_PX) -> MatrixFit:
    """The :class:`MatrixFit` for a (t, t) matrix drawn ``width`` px wide with row ``labels`` on the left and
    a colour bar ``colorbar_px`` wide on the right. Values are written at ``font_size`` (or down to
    ``MIN_TEXT_PX``) only when the widest fits inside a cell with ``CELL_PAD_PX`` to spare."""
    label_px = max((text_px(x, font_size) for x in labels), default=0.0) + 2.2 * font_size + 20  # swatch, title
    cell = max(width - label_px - colorbar_px - 20, 0.0) / max(t, 1)
    widest = max((text_px(x, 1.0) for x in cell_texts), default=0.0)
    text_size = next((size for size in range(font_size, MIN_TEXT_PX - 1, -1)
                      if widest * size + CELL_PAD_PX <= cell), 0)
    # A label turned -45 degrees needs sqrt(2) times its height between neighbours; upright (-90), 1.2 times.
    x_angle = -45 if cell >= 1.45 * font_size else (-90 if cell >= 1.2 * font_size else None)
    return MatrixFit(cell, text_size, x_angle)


def _tag_ticks(names: Sequence[str], colors: Mapping[str, str] | None) -> dict:
    """Axis ticks naming each tag, led by a swatch of its map colour when ``colors`` is given."""
    text = [f"<span style='color:{colors[n]}'>■</span> {escape_text(n)}" if colors and n in colors
            else escape_text(n) for n in names]
    return dict(tickmode="array", tickvals=[escape_text(n) for n in names], ticktext=text)


def _colorbar_px(colorbar: dict) -> float:
    """Room a vertical colour bar takes right of the plot: bar, gap, widest tick label or title line."""
    title = colorbar.get("title", {})
    ticks = [str(x) for x in colorbar.get("ticktext", ())] or ["100%"]
    widest = max(text_px(x, CHART_TEXT_PX) for x in ticks)
    if title.get("side") == "right":  # turned along the bar: one line's height
        return colorbar.get("thickness", 15) + 16 + widest + 1.5 * CHART_TEXT_PX
    lines = str(title.get("text", "")).split("<br>")
    return colorbar.get("thickness", 15) + 16 + max(widest, *(text_px(x, CHART_TEXT_PX) for x in lines))


def tag_matrix_heatmap(matrix: np.ndarray, tag_order: Sequence[str], *, colorbar_title: str, hovertemplate: str,
                       x_title: str = "tag", y_title: str = "tag", zrange: tuple[float, float] | None = None,
                       scale: CentredScale | None = None, order: Sequence[int] | None = None,
                       groups: Sequence[str] | None = None, colors: Mapping[str, str] | None = None,
                       cell_format: str = "{:.2f}", height: int = 480, width: int = HALF_COLUMN_PX,
                       font_size: int = CHART_TEXT_PX) -> go.Figure:
    """A (t, t) matrix over tags, rows top to bottom in ``order`` (indices into ``tag_order``).

    Colour: ``scale`` (diverging, centred on its reference) or the fixed ``zrange``; with neither, the
    data's own range, which the colour bar then states in its title. ``groups`` (one per tag in
    ``tag_order``) draw a line between groups. ``width`` is the narrowest width (px) the chart is drawn at
    (``HALF_COLUMN_PX`` for half the page, ``FULL_COLUMN_PX`` for all of it): each cell shows its value
    (``cell_format``) only while the cells there are wide enough for it at ``font_size`` (see
    :func:`matrix_fit`); otherwise hover gives it. The fit is kept in the trace's ``meta``.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    t = len(tag_order)
    if matrix.shape != (t, t):
        raise ValueError(f"matrix must have shape ({t}, {t}), got {matrix.shape}")
    order = list(range(t)) if order is None else [int(i) for i in order]
    if sorted(order) != list(range(t)):
        raise ValueError(f"order must be a permutation of range({t})")
    matrix = matrix[np.ix_(order, order)]
    tags = [str(tag_order[i]) for i in order]
    names = [escape_text(x) for x in tags]
    if scale is not None:
        color = _centred_colors(scale, colorbar_title)
    else:
        lo, hi = zrange if zrange is not None else (float(np.nanmin(matrix)), float(np.nanmax(matrix)))
        color = dict(colorscale="Viridis", zmin=lo, zmax=hi, colorbar=dict(thickness=14, title=dict(
            side="right", text=f"{colorbar_title.replace('<br>', ' ')} ({cell_format.format(lo)}–"
                               f"{cell_format.format(hi)})")))
    text = [[("" if not np.isfinite(v) else cell_format.format(v)) for v in row] for row in matrix]
    fit = matrix_fit(t, names, [x for row in text for x in row], width=width, font_size=font_size,
                     colorbar_px=_colorbar_px(color["colorbar"]))
    fig = go.Figure(go.Heatmap(z=matrix, x=names, y=names, text=text,
                               texttemplate="%{text}" if fit.text_size else None,
                               textfont=dict(size=fit.text_size or font_size), hovertemplate=hovertemplate,
                               xgap=1, ygap=1, meta=dict(cell_px=fit.cell_px, width=width), **color))
    ticks = _tag_ticks(tags, colors)
    if fit.x_angle is None:
        fig.update_xaxes(type="category", title=f"{x_title} (in the same order as the rows)", showticklabels=False)
    else:
        fig.update_xaxes(type="category", title=x_title, tickangle=fit.x_angle, **ticks)
    fig.update_yaxes(type="category", autorange="reversed", title=y_title, **ticks)
    if groups is not None:
        g = [str(groups[i]) for i in order]
        for k in range(1, t):
            if g[k] != g[k - 1]:
                line = dict(type="line", line=dict(color="black", width=2), xref="x", yref="y")
                fig.add_shape(**line, x0=k - 0.5, x1=k - 0.5, y0=-0.5, y1=t - 0.5)
                fig.add_shape(**line, x0=-0.5, x1=t - 0.5, y0=k - 0.5, y1=k - 0.5)
    # Rows as tall as the cells are wide (square cells), never shorter than a label needs.
    row_px = min(max(fit.cell_px, 1.9 * font_size), 48)
    fig.update_layout(height=max(height, int(row_px * t) + 160), margin=dict(l=10, r=10, t=10, b=10),
                      font=dict(size=font_size))
    return fig


def tag_similarity_figure(matrix: np.ndarray, tag_order: Sequence[str], *, scale: CentredScale | None = None,
                          order: Sequence[int] | None = None, groups: Sequence[str] | None = None,
                          colors: Mapping[str, str] | None = None, height: int = 480, width: int = HALF_COLUMN_PX,
                          font_size: int = CHART_TEXT_PX) -> go.Figure:
    """Mean cosine similarity between every pair of tags, (t, t), with the value written in each cell
    while the cells are wide enough at ``width`` (see :func:`tag_matrix_heatmap`)."""
    return tag_matrix_heatmap(matrix, tag_order, colorbar_title="mean<br>similarity", height=height, scale=scale,
                              order=order, groups=groups, colors=colors, cell_format="{:.3f}", width=width,
                              font_size=font_size,
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
    # The legend stands above the plot, never over the peaks (which are at the top of the plot area).
    fig.update_layout(barmode="overlay", height=height, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title="cosine distance (0 = same direction, 1 = unrelated, 2 = opposite)",
                      yaxis_title="share of pairs (density)", legend=ABOVE_PLOT_LEGEND)
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
    # Turned a fixed -45 degrees: Plotly's own choice (30 degrees) lets 20 labels of a half-width chart overlap.
    fig.update_xaxes(type="category", title="dimension", tickangle=-45)
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
