"""Plotly builders for the story views (pairs, contrastive head, text queries, why hands smear).

Same rules as ``explorer.figures``: return ``go.Figure``, compute nothing heavy, never call ``st.*``;
every user string that reaches the figure goes through ``escape_text``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.figures import (CELL_PAD_PX, CHART_TEXT_PX, HALF_COLUMN_PX, colors_for, escape_text, map_figure,
                              tag_matrix_heatmap, text_px)

Colors = Mapping[str, str] | None


def _xy(coords) -> np.ndarray:
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    return coords


def twin_map(coords, twin_coords, *, tags: Sequence[str], sources: Sequence[str], title: str = "",
             height: int = 560, colors: Colors = None) -> go.Figure:
    """The map with each image (dot) joined by a grey line to its augmented twin (open circle).

    coords, twin_coords : (n, 2) positions of the images and of their twins in the same projection.
    """
    coords, twin_coords = _xy(coords), _xy(twin_coords)
    if coords.shape != twin_coords.shape:
        raise ValueError(f"twin_coords must match coords {coords.shape}, got {twin_coords.shape}")
    colors = colors_for(tags, colors)
    fig = map_figure(coords, tags=tags, sources=sources, title=title, height=height, webgl=False, colors=colors)
    ok = np.isfinite(coords).all(axis=1) & np.isfinite(twin_coords).all(axis=1)
    xs, ys = [], []
    for i in np.flatnonzero(ok):
        xs += [coords[i, 0], twin_coords[i, 0], None]
        ys += [coords[i, 1], twin_coords[i, 1], None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="image → its twin", hoverinfo="skip",
                             line=dict(color="rgba(80,80,80,0.45)", width=1)))
    idx = np.flatnonzero(ok)
    fig.add_trace(go.Scatter(
        x=twin_coords[idx, 0], y=twin_coords[idx, 1], mode="markers", name="augmented twin", customdata=idx,
        text=[f"twin of <b>{escape_text(sources[i])}</b><br>tag: {escape_text(tags[i])}" for i in idx],
        hovertemplate="%{text}<extra></extra>",
        marker=dict(size=7, symbol="circle-open", color=[colors[tags[i]] for i in idx], line=dict(width=1.5))))
    return fig


def before_after_maps(before, after, *, tags: Sequence[str], sources: Sequence[str], held_out: Sequence[int] = (),
                      titles: tuple[str, str] = ("before", "after"), height: int = 520,
                      colors: Colors = None) -> go.Figure:
    """Two maps side by side (same projection method and settings); held-out images drawn as diamonds."""
    before, after = _xy(before), _xy(after)
    fig = make_subplots(rows=1, cols=2, subplot_titles=[escape_text(t) for t in titles], horizontal_spacing=0.04)
    held = np.zeros(len(tags), bool)
    held[list(held_out)] = True
    colors = colors_for(tags, colors)
    tag_arr = np.asarray(tags, dtype=object)
    for col, coords in ((1, before), (2, after)):
        for tag, color in colors.items():
            for is_held, symbol in ((False, "circle"), (True, "diamond")):
                idx = np.flatnonzero((tag_arr == tag) & (held == is_held) & np.isfinite(coords).all(axis=1))
                if not idx.size:
                    continue
                fig.add_trace(go.Scatter(
                    x=coords[idx, 0], y=coords[idx, 1], mode="markers", customdata=idx,
                    name=escape_text(tag) + (" (held out)" if is_held else ""), legendgroup=escape_text(tag),
                    showlegend=col == 1, hovertemplate="%{text}<extra></extra>",
                    text=[f"<b>{escape_text(sources[i])}</b><br>tag: {escape_text(tag)}"
                          + ("<br>held out" if is_held else "") for i in idx],
                    marker=dict(size=6 if not is_held else 8, color=color, symbol=symbol, opacity=0.85)),
                    row=1, col=col)
    fig.update_xaxes(showticklabels=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, zeroline=False)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"))
    return fig


def transition_animation(before, after, *, tags: Sequence[str], sources: Sequence[str], steps: int = 12,
                         height: int = 560, colors: Colors = None) -> go.Figure:
    """An animated map moving every point from ``before`` to ``after`` (both (n, 2), pre-aligned)."""
    before, after = _xy(before), _xy(after)
    if before.shape != after.shape:
        raise ValueError(f"after must match before {before.shape}, got {after.shape}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    colors = colors_for(tags, colors)
    tag_arr = np.asarray(tags, dtype=object)
    ok = np.isfinite(before).all(axis=1) & np.isfinite(after).all(axis=1)
    groups = [(tag, color, np.flatnonzero((tag_arr == tag) & ok)) for tag, color in colors.items()]

    def traces(t: float) -> list[go.Scatter]:
        pos = (1 - t) * before + t * after
        return [go.Scatter(x=pos[idx, 0], y=pos[idx, 1], mode="markers", name=escape_text(tag), customdata=idx,
                           text=[escape_text(sources[i]) for i in idx], hovertemplate="%{text}<extra></extra>",
                           marker=dict(size=6, color=color)) for tag, color, idx in groups]

    ts = np.linspace(0, 1, steps)
    frames = [go.Frame(data=traces(float(t)), name=f"{t:.2f}") for t in ts]
    fig = go.Figure(data=traces(0.0), frames=frames)
    both = np.vstack([before[ok], after[ok]]) if ok.any() else np.zeros((1, 2))
    pad = 0.05 * (both.max(axis=0) - both.min(axis=0) + 1e-9)
    play = dict(label="▶ play", method="animate",
                args=[None, dict(frame=dict(duration=120, redraw=False), transition=dict(duration=100),
                                 fromcurrent=True, mode="immediate")])
    back = dict(label="⟲ before", method="animate",
                args=[[frames[0].name], dict(frame=dict(duration=0, redraw=False), mode="immediate")])
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=50, b=90),
        xaxis=dict(range=[both[:, 0].min() - pad[0], both[:, 0].max() + pad[0]], showticklabels=False, zeroline=False),
        yaxis=dict(range=[both[:, 1].min() - pad[1], both[:, 1].max() + pad[1]], showticklabels=False, zeroline=False),
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=1.1, xanchor="left", yanchor="bottom", buttons=[play, back])],
        sliders=[dict(active=0, x=0.0, len=1.0, y=0, yanchor="top", pad=dict(t=10),
                      currentvalue=dict(prefix="before → after (straight-line blend of the two maps): "),
                      steps=[dict(label=f.name, method="animate",
                                  args=[[f.name], dict(frame=dict(duration=0, redraw=False), mode="immediate")])
                             for f in frames])])
    return fig


def align_to(reference, moving) -> np.ndarray:
    """``moving`` (n, 2) rotated/reflected, scaled and shifted to best match ``reference`` (Procrustes), so an
    animation shows real movement rather than an arbitrary flip of the projection axes."""
    A, B = _xy(reference), _xy(moving)
    ok = np.isfinite(A).all(axis=1) & np.isfinite(B).all(axis=1)
    if ok.sum() < 3:
        return B.copy()
    a0, b0 = A[ok].mean(axis=0), B[ok].mean(axis=0)
    U, s, Vt = np.linalg.svd((B[ok] - b0).T @ (A[ok] - a0))
    R = U @ Vt
    scale = s.sum() / max(np.sum((B[ok] - b0) ** 2), 1e-12)
    return (B - b0) @ R * scale + a0


def loss_curve(losses: Sequence[float], *, height: int = 260) -> go.Figure:
    """Training loss per pass over the data (pass 0 = before training)."""
    fig = go.Figure(go.Scatter(x=list(range(len(losses))), y=list(losses), mode="lines+markers", name="loss"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="pass over the training images",
                      yaxis_title="contrastive loss")
    return fig


def per_tag_bars(per_tag: dict, *, colors: Colors = None, height: int = 380) -> go.Figure:
    """Silhouette and k-NN agreement per tag, the worst (lowest silhouette, most smeared) on top."""
    tags = sorted(per_tag, key=lambda t: (per_tag[t].get("silhouette") is None, per_tag[t].get("silhouette") or 0))
    names = [escape_text(t) for t in tags]
    # Each title on two lines: on one, the two run into each other in half a 1280-px page.
    fig = make_subplots(rows=1, cols=2, subplot_titles=["silhouette<br>(cosine, −1 to 1)", "k-NN tag agreement<br>(0 to 1)"],
                        horizontal_spacing=0.06, shared_yaxes=True)
    sil = [per_tag[t].get("silhouette") for t in tags]
    knn = [per_tag[t].get("knn_agreement") for t in tags]
    fig.add_trace(go.Bar(y=names, x=sil, orientation="h", marker_color=["#C83818" if (v or 0) < 0 else "#30A860"
                                                                         for v in sil],
                         text=[("n/a" if v is None else f"{v:.2f}") for v in sil], name="silhouette", cliponaxis=False,
                         textposition="outside"), row=1, col=1)
    # Values beside the bars, never inside: Plotly shrinks text that does not fit a bar below a readable size.
    fig.add_trace(go.Bar(y=names, x=knn, orientation="h", marker_color="#3080F8",
                         text=[("n/a" if v is None else f"{v:.2f}") for v in knn], name="k-NN agreement",
                         cliponaxis=False, textposition="outside"), row=1, col=2)
    # A category axis draws its first category at the bottom: reversed, the worst tag is on top.
    ticks = dict(tickmode="array", tickvals=names, ticktext=[
        f"<span style='color:{colors[t]}'>■</span> {escape_text(t)}" if colors and t in colors else escape_text(t)
        for t in tags])
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=names, autorange="reversed", **ticks)
    fig.update_xaxes(range=[-1, 1], row=1, col=1)
    fig.update_xaxes(range=[0, 1.25], tickvals=[0, 0.5, 1], row=1, col=2)  # room for "0.94" beside its bar
    fig.update_layout(height=max(height, 30 * len(tags) + 110), showlegend=False, margin=dict(l=10, r=30, t=60, b=10),
                      font=dict(size=14))
    return fig


def confusion_figure(matrix, tag_order: Sequence[str], *, order: Sequence[int] | None = None,
                     groups: Sequence[str] | None = None, colors: Colors = None, height: int = 480,
                     width: int = HALF_COLUMN_PX, font_size: int = CHART_TEXT_PX) -> go.Figure:
    """Row a, column b: share of tag a's nearest neighbours that carry tag b ("which tags smear together").

    The colour scale is fixed at 0–100 % (said on the colour bar); ``order``/``groups``/``colors`` as in
    :func:`explorer.figures.tag_matrix_heatmap` (see :func:`explorer.figures.related_order`), and so are
    ``width`` and ``font_size``, which decide whether the cells can carry their percentages.
    """
    fig = tag_matrix_heatmap(
        matrix, tag_order, colorbar_title="share of neighbours", zrange=(0, 1), height=height,
        order=order, groups=groups, colors=colors, cell_format="{:.0%}", width=width, font_size=font_size,
        hovertemplate="%{z:.0%} of the neighbours of %{y} images are %{x}<extra></extra>",
        x_title="neighbour's tag", y_title="image's tag")
    fig.update_traces(colorscale="Blues", colorbar=dict(tickformat=".0%", title=dict(
        text="share of neighbours (fixed 0–100%)")))
    return fig


def group_comparison(groups: dict, *, height: int = 340) -> go.Figure:
    """Silhouette and k-NN agreement (with its chance level) for each group of ``compare_groups``."""
    names = [escape_text(n) for n in groups]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["silhouette (cosine)", "k-NN tag agreement"])
    sil = [groups[n]["silhouette"] for n in groups]
    knn = [groups[n]["knn_agreement"] for n in groups]
    chance = [groups[n]["chance"] for n in groups]
    fig.add_trace(go.Bar(x=names, y=sil, text=[("n/a" if v is None else f"{v:.3f}") for v in sil],
                         marker_color="#636EFA", name="silhouette"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=knn, text=[("n/a" if v is None else f"{v:.2f}") for v in knn],
                         marker_color="#00A08B", name="k-NN agreement"), row=1, col=2)
    fig.add_trace(go.Scatter(x=names, y=chance, mode="markers", marker=dict(symbol="line-ew-open", size=40, color="black"),
                             name="chance"), row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), showlegend=False)
    return fig


def star_map(coords, star_xy, *, tags: Sequence[str], sources: Sequence[str], phrase: str,
             nearest: Sequence[int] = (), height: int = 560, colors: Colors = None) -> go.Figure:
    """The map with the phrase as a star and its nearest images ringed."""
    fig = map_figure(_xy(coords), tags=tags, sources=sources, highlight=list(nearest), height=height, webgl=False,
                     colors=colors)
    star = np.asarray(star_xy, dtype=np.float64)
    if star.shape == (2,) and np.isfinite(star).all():
        fig.add_trace(go.Scatter(x=[star[0]], y=[star[1]], mode="markers+text", name="your phrase",
                                 text=[escape_text(phrase)], textposition="top center",
                                 hovertemplate="%{text}<extra></extra>",
                                 marker=dict(symbol="star", size=26, color="gold", line=dict(color="black", width=2))))
    return fig


def big_number_row(values: dict, *, height: int = 180) -> go.Figure:
    """Large labelled numbers for presenter mode (label -> float or None)."""
    fig = go.Figure()
    n = max(len(values), 1)
    for i, (label, value) in enumerate(values.items()):
        fig.add_trace(go.Indicator(mode="number", value=value if value is not None else float("nan"),
                                   number=dict(valueformat=".3f", font=dict(size=56)),
                                   title=dict(text=escape_text(label), font=dict(size=22)),
                                   domain=dict(x=[i / n, (i + 1) / n], y=[0, 1])))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


BODY_COLOUR = "#31333F"  # Streamlit's body text colour: no light grey on a projector
PROJECTOR_TEXT_PX = 18


def for_projector(fig: go.Figure, *, size: int = PROJECTOR_TEXT_PX) -> go.Figure:
    """Every text of ``fig`` at least ``size`` px and in body colour (axes, legend, hover, colour bars,
    subplot titles, numbers, animation buttons and slider), on a white template, for a presenter's screen
    read from the back of a room. A matrix whose cell values no longer fit their cells at ``size`` leaves
    them to hover (build it with ``font_size=size`` and the presenter's ``width`` to keep them). Draw it with ``st.plotly_chart(..., theme=None)``: Streamlit's chart theme
    would set its own, smaller fonts. Returns ``fig``."""
    text = dict(size=size, color=BODY_COLOUR)
    fig.update_layout(template="plotly_white", font=text, hoverlabel=dict(font=dict(size=size)),
                      legend=dict(font=text, title=dict(font=text)))
    fig.update_xaxes(tickfont=text, title_font=text)
    fig.update_yaxes(tickfont=text, title_font=text)
    for ann in fig.layout.annotations or ():
        ann.font.size = max(ann.font.size or 0, size + 2)
        ann.font.color = BODY_COLOUR
    for menu in fig.layout.updatemenus or ():
        menu.font = text
    for slider in fig.layout.sliders or ():
        slider.font = text
        slider.currentvalue.font = text
    for trace in fig.data:
        if "textfont" in trace:
            trace.textfont.size = max(trace.textfont.size or 0, size)
        if isinstance(trace, go.Heatmap) and trace.texttemplate and trace.meta and "cell_px" in trace.meta:
            widest = max((text_px(x, trace.textfont.size) for row in trace.text for x in row), default=0.0)
            if widest + CELL_PAD_PX > trace.meta["cell_px"]:  # bigger text no longer fits: hover gives it
                trace.texttemplate = None
        if "colorbar" in trace:
            trace.colorbar.tickfont = text
            trace.colorbar.title.font = text
        if isinstance(trace, go.Indicator):
            trace.title.font = dict(size=size + 4, color=BODY_COLOUR)
            trace.number.font.color = BODY_COLOUR
    return fig
