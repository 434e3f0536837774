"""The figure of a map too large to draw point by point: a density layer under a sample of clickable points.

Where a million points overlap, single dots say nothing and cost the browser seconds. The map of a large
set is drawn as point counts on a grid (``explorer.largemap.density_grid``, shown on a log scale so sparse
regions stay visible) under a seeded sample of real points (``explorer.largemap.display_rows``), which
keep their tag colours, escaped hover text and clicks. Each point trace's ``customdata`` is the row in the
whole set, as on every other map, so a click maps back to the right image.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from explorer import figures
from explorer.largemap import DensityGrid, density_grid, display_rows

DENSITY_COLORSCALE = [[0.0, "rgba(40,40,60,0.10)"], [0.5, "rgba(40,40,60,0.35)"], [1.0, "rgba(20,20,40,0.75)"]]


def density_trace(grid: DensityGrid, *, name: str = "density") -> go.Heatmap:
    """The grid as a heatmap of log(1 + count); empty cells are transparent, hovering shows the count."""
    counts = grid.counts
    # float32 shades and int32 counts: half the bytes of the figure's largest arrays (sent as binary)
    z = np.where(counts > 0, np.log1p(counts.astype(np.float64)), np.nan).astype(np.float32)
    shown = counts.astype(np.int32) if counts.size and counts.max() <= np.iinfo(np.int32).max else counts
    xc = (grid.x_edges[:-1] + grid.x_edges[1:]) / 2
    yc = (grid.y_edges[:-1] + grid.y_edges[1:]) / 2
    return go.Heatmap(x=xc, y=yc, z=z, customdata=shown, colorscale=DENSITY_COLORSCALE, showscale=False,
                      hovertemplate="%{customdata:,} points here<extra></extra>", name=name, zsmooth=False,
                      hoverongaps=False)


def large_map_figure(coords: np.ndarray, *, tags: Sequence[str], sources: Sequence[str], tag_name: str = "tag",
                     sample: Optional[np.ndarray] = None, colors: Optional[Mapping[str, str]] = None,
                     title: str = "", height: int = 620) -> tuple[go.Figure, np.ndarray]:
    """The density layer of all finite rows of ``coords`` (n, 2) and the points of ``sample`` rows (default:
    :func:`explorer.largemap.display_rows`) drawn over it. Returns (figure, the sampled rows)."""
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"a large map is 2-D: coords must be (n, 2), got shape {coords.shape}")
    if len(tags) != len(coords) or len(sources) != len(coords):
        raise ValueError(f"coords has {len(coords)} rows but {len(tags)} tags and {len(sources)} sources")
    rows = display_rows(coords) if sample is None else np.asarray(sample, dtype=np.int64)
    colors = figures.colors_for(tags, colors)  # over the whole set: the same colour for a tag everywhere
    fig = figures.map_figure(coords[rows], tags=[tags[i] for i in rows], sources=[sources[i] for i in rows],
                             tag_name=tag_name, colors=colors, title=title, height=height, webgl=True)
    for trace in fig.data:  # sample positions -> rows of the whole set
        if trace.customdata is not None:
            trace.customdata = rows[np.asarray(trace.customdata, dtype=np.int64)]
    fig.add_trace(density_trace(density_grid(coords)))
    fig.data = (fig.data[-1],) + fig.data[:-1]  # the density layer under the points
    return fig, rows
