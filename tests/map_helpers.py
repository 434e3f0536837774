"""Read the map page's chart in AppTest: the map component (ui.map_component) instead of st.plotly_chart.

The component sends a map's figure to the browser once per session (later runs carry only the overlays),
so :func:`map_specs` asks for it again when the run it looks at did not carry it.
"""

from __future__ import annotations

import json

from ui import state
from ui.map_component import COMPONENT_NAME


def _map_data(at) -> list[dict]:
    return [json.loads(el.proto.json) for el in at.get("bidi_component")
            if el.proto.component_name == COMPONENT_NAME and el.proto.json]


def map_data(at) -> list[dict]:
    """The data each map component received in the last run: ``map_id``, ``overlay`` (focus, ring, region,
    selected layers), and ``figure`` (a JSON string) when that run sent it."""
    return _map_data(at)


def map_specs(at) -> list[dict]:
    """The Plotly figure (dict) of each map component on the page, rerunning once without the record of
    figures already sent when the last run did not carry them."""
    data = _map_data(at)
    if data and any("figure" not in d for d in data):
        at.session_state[state.MAP_SENT_KEY] = set()
        at.run()
        data = _map_data(at)
    return [json.loads(d["figure"]) for d in data if "figure" in d]


def chart_specs(at) -> list[dict]:
    """Every chart's figure on the page: st.plotly_chart specs, then the map component's figures."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")] + map_specs(at)
