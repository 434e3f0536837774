"""Presenter mode: the essay as numbered live steps for a projector and a clicker.

PageDown / Right / Space go forward, PageUp / Left back. Entering computes every step's data once, under
one progress bar, through the same cached computations the story pages use (``ui.story_data``), so
"next" only draws. The URL keeps the step, the set and the embedder (``?step=3&source=demo:hands&embedder=hog``).
Each step is one small function in ``STEPS`` (ui/presenter_steps.py).
"""

from __future__ import annotations

import html

import streamlit as st

from explorer.embedders import EMBEDDERS, available_embedders
from explorer.io.demos import DEMOS
from explorer.workset import WorkSet
from ui.current import current_set
from ui.presenter_steps import STEPS, STYLE, warm_up
from ui.screen import screen_size, watch_screen
from ui.safe import md
from ui.state import (PRESENTER_EMBEDDER_KEY, PRESENTER_SET_KEY, choose_demo, choose_embedder, current_choice,
                      set_widget_value, widget_value)

# ------------------------------------------------------------------------------------------ page

def _step_from_url() -> int:
    raw = st.query_params.get("step", "1")
    try:
        return min(max(int(raw), 1), len(STEPS))
    except ValueError:
        return 1


def _go(delta: int) -> None:
    st.query_params["step"] = str(min(max(_step_from_url() + delta, 1), len(STEPS)))


def _navigation(step: int) -> None:
    """back / step number / next, with the clicker's keys; Right, Left and Space ride on hidden twins."""
    nav = st.columns([1.3, 5, 1.3], vertical_alignment="center")
    nav[0].button("◀ back", disabled=step == 1, key="presenter_prev", width="stretch", shortcut="PageUp",
                  on_click=_go, args=(-1,), help="PageUp or ←")
    width, height = screen_size()  # the size the step is fitted to, in the markup (tests wait for it)
    nav[1].markdown(f"<p class='presenter-step' data-fit='{width}x{height}'>Step {step} of {len(STEPS)}</p>",
                    unsafe_allow_html=True)
    nav[2].button("next ▶", disabled=step == len(STEPS), key="presenter_next", width="stretch", shortcut="PageDown",
                  on_click=_go, args=(1,), help="PageDown, → or Space")
    with st.container(key="presenter_keys"):
        for key, delta, shortcut in (("presenter_right", 1, "Right"), ("presenter_space", 1, "Space"),
                                     ("presenter_left", -1, "Left")):
            st.button(key, key=key, shortcut=shortcut, on_click=_go, args=(delta,),
                      disabled=(step == len(STEPS)) if delta > 0 else step == 1)


def _bookmark_refused() -> bool:
    """A URL ``source`` must name a built-in demo (the URL is anyone's text); says so and returns True if not."""
    source = st.query_params.get("source")
    if source is None or source in {f"demo:{n}" for n in DEMOS}:
        return False
    st.error(f"A presenter bookmark can name a built-in demo only (source=demo:NAME), not {md(source, max_length=80)}.")
    return True


def _sync_url(ws: WorkSet) -> None:
    """Write the sidebar's demo and embedder into the URL, so the address bookmarks this step of this set."""
    choice = current_choice()
    if choice.kind == "demo":
        st.query_params["source"], st.query_params["embedder"] = choice.ref, ws.embedder_name
    else:
        for name in ("source", "embedder"):
            if name in st.query_params:
                del st.query_params[name]


def _choose_set() -> None:
    """The title step's pickers: a built-in demo and an embedder (they drive the sidebar, which stays closed)."""
    choice = current_choice()
    sets = [f"demo:{n}" for n in DEMOS]
    if choice.kind != "demo":
        sets = ["the sidebar's set"] + sets
    embedders = available_embedders() or list(EMBEDDERS)
    set_widget_value(PRESENTER_SET_KEY, choice.ref if choice.ref in sets else sets[0])
    if choice.embedder in embedders:
        set_widget_value(PRESENTER_EMBEDDER_KEY, choice.embedder)

    def use_set() -> None:
        spec = widget_value(PRESENTER_SET_KEY)
        if spec.startswith("demo:"):
            choose_demo(spec.removeprefix("demo:"))

    def use_embedder() -> None:
        choose_embedder(widget_value(PRESENTER_EMBEDDER_KEY))

    c = st.columns([2, 2, 3])
    c[0].selectbox("Image set", sets, key=PRESENTER_SET_KEY, on_change=use_set)
    c[1].selectbox("Embedder", embedders, key=PRESENTER_EMBEDDER_KEY, on_change=use_embedder)


st.set_page_config(initial_sidebar_state="collapsed")
st.markdown(STYLE, unsafe_allow_html=True)
watch_screen()  # the window's size: each step sizes its pictures and charts to fit it
step_no = _step_from_url()
st.query_params["step"] = str(step_no)
_navigation(step_no)
current = STEPS[step_no - 1]
st.title(f"{step_no}. {current.title}")
# The headline is the step's own constant text; escaped all the same, since this HTML is rendered as is.
st.markdown(f"<p class='presenter-headline'>{html.escape(current.headline)}</p>", unsafe_allow_html=True)
if _bookmark_refused():
    st.stop()
if step_no == 1:
    _choose_set()
ws = current_set()
if ws is None:
    st.stop()
_sync_url(ws)
warm_up(ws)
current.show(ws)
