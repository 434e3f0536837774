"""The map as a browser component: the figure is sent once per map; a click or a selection only updates overlays.

``st.plotly_chart`` sends the whole figure again on every rerun (about 10 MB of JSON at 100,000 points),
so a click that reruns the page costs a second or more. This component (``st.components.v2``) keeps the
figure in the browser, keyed by a map id, and a rerun sends only the overlay traces: the ringed
neighbours, the clicked point, the real points of a zoomed region of a large map. Plotly.js is the copy
inside the installed ``plotly`` package, sent to the page once (no network, no CDN).

The caller says whether the browser already has this map's figure (``send_figure``); when the browser
lost it (a new page load in the same session) the component asks for it back (``MapEvent.need``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import plotly
import plotly.graph_objects as go
import streamlit as st

from ui import state

HERE = Path(__file__).resolve().parent
COMPONENT_NAME = "fse_map"
PRELOAD_NAME = "fse_plotly_preload"
HTML = '<div class="fse-map"><div class="fse-plot"></div><div class="fse-error"></div></div>'
CSS = ".fse-map { width: 100%; } .fse-plot { width: 100%; min-height: 200px; } .fse-error { color: #b00; }"
EVENTS = ("click", "select", "view", "need")
PLOTLY_ID = "plotly.js"  # recorded like a map id: whether this session already sent the page plotly.js


@functools.lru_cache(maxsize=1)
def plotly_source() -> str:
    """plotly.js from the installed plotly package (the same version plotly.py writes figures for)."""
    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=2)
def _component(name: str = COMPONENT_NAME):
    # Not style-isolated: plotly.js puts its stylesheet (hover labels, toolbar) in the page's <head>, which a
    # shadow root would not see.
    return st.components.v2.component(name, html=HTML, css=CSS, isolate_styles=False,
                                      js=(HERE / "map_component.js").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Layer:
    """Points drawn over the figure: coordinates, their rows in the set, escaped hover text, colours."""

    x: Sequence[float]
    y: Sequence[float]
    rows: Sequence[int]
    text: Sequence[str]
    z: Optional[Sequence[float]] = None
    color: Optional[Sequence[str]] = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"x": _floats(self.x), "y": _floats(self.y), "rows": [int(r) for r in self.rows],
                               "text": [str(t) for t in self.text]}
        if self.z is not None:
            out["z"] = _floats(self.z)
        if self.color is not None:
            out["color"] = [str(c) for c in self.color]
        return out


def _floats(values) -> list:
    return [float(v) for v in np.asarray(values, dtype=np.float64)]


def layer(coords: np.ndarray, rows: Sequence[int], hover: Sequence[str],
          colors: Optional[Sequence[str]] = None) -> Layer:
    """A :class:`Layer` of ``rows`` of the map ``coords`` (n, 2|3); ``hover`` is per row of ``rows``, escaped."""
    rows = np.asarray(rows, dtype=np.int64)
    pts = np.asarray(coords)[rows] if len(rows) else np.zeros((0, np.asarray(coords).shape[1]))
    return Layer(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2] if pts.shape[1] == 3 else None, rows=rows,
                 text=list(hover), color=None if colors is None else list(colors))


@dataclass(frozen=True)
class Overlay:
    """What changes between reruns of one map: the clicked point, its neighbours, a zoomed region's points and
    the box/lasso selection (drawn again on a new figure, where Plotly's own selection is gone)."""

    focus: Optional[Layer] = None
    ring: Optional[Layer] = None
    region: Optional[Layer] = None
    selected: Optional[Layer] = None
    search: Optional[Layer] = None  # the rows the map's search box found (ui.map_search)

    def to_json(self) -> dict:
        return {name: value.to_json() for name, value in
                (("focus", self.focus), ("ring", self.ring), ("region", self.region), ("selected", self.selected),
                 ("search", self.search)) if value is not None}


@dataclass(frozen=True)
class MapEvent:
    """What the user did in the map since the last rerun (one of these is set, or none).

    ``click``: the clicked row. ``select``: dict with ``rows`` (points Plotly selected in the drawn traces)
    and ``box`` {x: [x0, x1], y: [y0, y1]} or ``lasso`` {x: [...], y: [...]} in map coordinates.
    ``view``: {x: [x0, x1] | None, y: ...} the zoomed region of a large map (None: zoomed out).
    ``need``: "figure" or "plotly" — the browser lacks it; draw again with ``send_figure=True``.
    """

    click: Optional[int] = None
    select: Optional[dict] = None
    view: Optional[dict] = None
    need: Optional[str] = None
    raw: dict = field(default_factory=dict)


def figure_json(fig: go.Figure) -> str:
    """The figure as plotly.js reads it (numpy arrays travel as typed base64 arrays, not number lists)."""
    return fig.to_json()


def draw(fig_json: Optional[str], *, map_id: str, dims: int, overlay: Overlay, key: str, large: bool = False,
         webgl: bool = True, send_figure: bool = True, keep: bool = True, config: Optional[dict] = None,
         on_event: Optional[Callable[[MapEvent], None]] = None) -> MapEvent:
    """Mount the map. ``fig_json`` (from :func:`figure_json`) is sent only when ``send_figure``; the browser
    keeps the last few figures by ``map_id``. Returns the user's latest action as a :class:`MapEvent`.

    ``keep``: the browser keeps this figure for later runs (False for one-off frames, e.g. t-SNE's animation).
    plotly.js itself is sent once per session (ui.state.map_sent(PLOTLY_ID)); the page asks again if it lost it.
    ``webgl``: draw the overlays with WebGL (as the map's points are above ``explorer.figures.WEBGL_THRESHOLD``).
    ``on_event(event)`` runs before the rerun a user action causes, so that rerun already draws the answer
    (one rerun per click, not two)."""
    data: dict[str, Any] = {"map_id": str(map_id), "dims": int(dims), "large": bool(large), "webgl": bool(webgl),
                            "overlay": overlay.to_json(), "config": config or {}, "keep": bool(keep)}
    if send_figure:
        if fig_json is None:
            raise ValueError("send_figure needs the figure's JSON")
        data["figure"] = fig_json
    if not state.map_sent(PLOTLY_ID):
        data["plotly"] = plotly_source()
        state.set_map_sent(PLOTLY_ID, True)
    callback = functools.partial(_dispatch, key, on_event)
    result = _component()(key=key, data=data, **{f"on_{e}_change": callback for e in EVENTS})
    return _event(result)


def preload(key: str = "map_plotly_preload") -> None:
    """Send plotly.js now if this session has not had it: called before the sidebar loads the set, so the
    browser reads its 4 MB while the server prepares the first map (on a first open, the demo's drawing and
    embedding) instead of after. Takes no room on the page; the map drawn later uses the same copy."""
    if state.map_sent(PLOTLY_ID):
        return
    st.html(f"<style>.st-key-{key} {{display: none}}</style>")  # style only: no element, no gap
    # Its own component name (same script): whatever looks for the map (COMPONENT_NAME) never finds it.
    _component(PRELOAD_NAME)(key=key, data={"map_id": "", "plotly": plotly_source()})
    state.set_map_sent(PLOTLY_ID, True)


def _dispatch(key: str, on_event: Optional[Callable[[MapEvent], None]]) -> None:
    """The component's callback (trigger values are recorded only with one): a browser that lost plotly.js
    or a figure gets it on the rerun this causes; any other event goes to ``on_event``."""
    event = _event(state.widget_value(key))
    if event.need == "plotly":
        state.set_map_sent(PLOTLY_ID, False)
    elif event.need == "figure":
        state.set_map_sent(str((event.raw.get("need") or {}).get("map_id", "")), False)
    if on_event is not None:
        on_event(event)


def _event(result) -> MapEvent:
    raw = {e: _get(result, e) for e in EVENTS}
    click = raw.get("click")
    need = raw.get("need")
    row = click.get("row") if isinstance(click, dict) else None
    return MapEvent(click=int(row) if isinstance(row, int) and not isinstance(row, bool) else None,
                    select=raw.get("select") if isinstance(raw.get("select"), dict) else None,
                    view=raw.get("view") if isinstance(raw.get("view"), dict) else None,
                    need=str(need.get("what")) if isinstance(need, dict) and need.get("what") else None,
                    raw={k: v for k, v in raw.items() if v is not None})


def _get(result, name: str):
    if result is None:
        return None
    try:
        return result[name] if name in result else getattr(result, name, None)
    except Exception:  # the result object's access rules changed: no event rather than a crash
        return getattr(result, name, None)


def view_ranges(view: Optional[dict]) -> Optional[tuple[tuple[float, float], tuple[float, float]]]:
    """The (x, y) ranges of a ``view`` event, validated; None when zoomed out or malformed."""
    if not view or view.get("x") is None or view.get("y") is None:
        return None
    try:
        x0, x1 = (float(v) for v in view["x"])
        y0, y1 = (float(v) for v in view["y"])
    except (TypeError, ValueError):
        return None
    if not all(np.isfinite([x0, x1, y0, y1])) or x0 == x1 or y0 == y1:
        return None
    return (min(x0, x1), max(x0, x1)), (min(y0, y1), max(y0, y1))


def json_size(data: dict) -> int:
    """Bytes of a payload as JSON (for the benchmarks' notes)."""
    return len(json.dumps(data))
