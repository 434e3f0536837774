"""Presenter mode's steps: each one small function of the record, its title, a one-sentence headline saying
what the audience is looking at, what it computes (``prepare``) and what it draws (``show``); ``STEPS`` in
order and ``warm_up`` computing every step's data once under one progress bar (ui/pages/presenter.py draws).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import plotly.graph_objects as go
import streamlit as st

from explorer.figures import map_figure
from explorer.story import contrastive as C
from explorer.story import figures as story_figures
from explorer.workset import WorkSet
from ui import analysis, render, story_data
from ui.compute import get_neighbours, get_projection, memo
from ui.safe import md
from ui.state import chosen_tags, focus_row, tag_column
from ui.screen import screen_size
from ui.status import progress_box

FONT_PX = 20  # body text on a 1920x1080 projector; nothing on a step is drawn under 16 px
# A step fits the screen without scrolling: pictures and charts take the height left under the presenter's
# chrome (padding, back/next row, title, headline), measured in Chromium at 1920x1080 and 1280x720. Windows
# under COMPACT_BELOW px tall get a compact chrome (style below) and the big numbers as one line of text.
CHROME_PX = 320
CHROME_COMPACT_PX = 230
COMPACT_BELOW = 1000
SIDE_PADDING_PX = 176  # Streamlit's wide layout: 5rem each side, and the gap between two columns
# Fixed markup (no user text). Captions in body colour: light grey vanishes on a projector.
STYLE = f"""<style>
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li {{font-size:{FONT_PX + 2}px}}
[data-testid="stMainBlockContainer"] code {{font-size:{FONT_PX}px !important}}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p, [data-testid="stImageCaption"],
[data-testid="stImageCaption"] p {{font-size:{FONT_PX}px !important; color:inherit !important; opacity:1 !important}}
[data-testid="stWidgetLabel"] p, [data-testid="stWidgetLabel"] label {{font-size:{FONT_PX}px !important}}
[data-testid="stMainBlockContainer"] button p, [data-testid="stMainBlockContainer"] button span,
[data-testid="stMainBlockContainer"] button kbd {{font-size:{FONT_PX}px !important}}
[data-testid="stMainBlockContainer"] [data-testid="stSelectbox"] * {{font-size:{FONT_PX}px !important}}
[data-baseweb="popover"] li, [data-baseweb="popover"] li div {{font-size:{FONT_PX}px !important}}
[data-testid="stProgress"] p {{font-size:{FONT_PX}px !important}}
[data-testid="stMainBlockContainer"] {{padding-top:3.75rem; padding-bottom:1rem}}
.presenter-headline {{font-size:34px !important; font-weight:600; line-height:1.25; margin:0 0 0.4em 0}}
.presenter-step {{font-size:{FONT_PX + 2}px !important; text-align:center; margin-top:0.35em}}
.st-key-presenter_keys {{display:none}}
[data-testid="stMain"]:focus, [data-testid="stMain"]:focus-visible, [data-testid="stAppViewContainer"]:focus,
[data-testid="stMainBlockContainer"]:focus {{outline:none !important; box-shadow:none !important}}
@media (max-height: {COMPACT_BELOW - 1}px) {{
  [data-testid="stMainBlockContainer"] {{padding-top:1.25rem}}
  [data-testid="stMainBlockContainer"] h1 {{font-size:2rem !important; padding:0.2rem 0 !important}}
  .presenter-headline {{font-size:26px !important; margin-bottom:0.2em}}
}}
</style>"""

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    headline: str
    show: Callable[[WorkSet], None]
    prepare: Callable[[WorkSet, Progress], object] = lambda ws, progress: None


# ------------------------------------------------------------------------------------------ helpers

def _anchor(ws: WorkSet) -> int:
    return focus_row(ws) or 0


def _nearest(ws: WorkSet) -> int:
    anchor = _anchor(ws)
    return int(get_neighbours(ws, 1)[0][anchor, 0]) if len(ws) > 1 else anchor


def _image(ws: WorkSet, i: int, width: int, label: str = "") -> None:
    render.image_or_name(ws, i, caption=f"{label}{ws.sources[i]} · {chosen_tags(ws)[i]}", width=width)


def _figures(ws: WorkSet, name: str, build: Callable[[WorkSet], dict]) -> dict:
    """A step's figures, built once per set and image A: building a Plotly figure is the slow part of drawing."""
    return memo("other", ("presenter_figures", name, ws.key, tag_column(ws), _anchor(ws), half_width()),
                    lambda: {k: story_figures.for_projector(f) for k, f in build(ws).items()})


def _compact() -> bool:
    return screen_size()[1] < COMPACT_BELOW


def room(reserve: int = 0) -> int:
    """Height (px) left for a step's pictures and charts once the chrome and ``reserve`` px of text are drawn."""
    return max(screen_size()[1] - (CHROME_COMPACT_PX if _compact() else CHROME_PX) - reserve, 160)


def half_width() -> int:
    """Width (px) of one of two columns on this screen (the presenter keeps the sidebar closed)."""
    return max((screen_size()[0] - SIDE_PADDING_PX) // 2, 300)


def _chart(fig, key: str, height: int | None = None) -> None:
    """A figure at ``height`` px (a copy: the memoised figure is shared) in the projector's fonts."""
    if height is not None:
        fig = go.Figure(fig).update_layout(height=int(height))
    st.plotly_chart(fig, config=render.PLOTLY_CONFIG, key=key, theme=None)  # theme=None keeps the big fonts


def _numbers(fig, values: dict, key: str, height: int) -> int:
    """The big numbers: a chart on a tall screen, one line of text on a short one; returns the px used."""
    if _compact():
        _text(" · ".join(f"{name.strip()} **{'n/a' if v is None else f'{v:.3f}'}**" for name, v in values.items()))
        return 40
    _chart(fig, key, height)
    return height + 16


def _text(markdown: str) -> None:
    """Explanations in body colour and size (never st.caption's light grey)."""
    st.markdown(markdown)


# ------------------------------------------------------------------------------------------ steps

def show_pixels(ws: WorkSet) -> None:
    c = st.columns([1.2, 2])
    with c[0]:
        _image(ws, _anchor(ws), min(300, room(reserve=95 + 70)))  # the set pickers above, the caption below
    with c[1]:
        if ws.images is None:
            st.info("This set holds vectors only, no pictures.")
            return
        px = ws.images.pixels[_anchor(ws)]
        _text(f"A {px.shape[0]}×{px.shape[1]} picture with 3 colour channels is **{px.size:,} numbers** "
              "from 0 to 255. The red channel of the top-left corner:")
        st.code("\n".join(" ".join(f"{v:3d}" for v in row) for row in px[:6, :8, 0]), language=None)


def show_numbers(ws: WorkSet) -> None:
    c = st.columns([1, 2])
    with c[0]:
        _image(ws, _anchor(ws), min(300, room(reserve=70)))
    with c[1]:
        v = ws.vectors[_anchor(ws)]
        _text(f"The **{md(ws.embedder_name)}** embedder makes a row of **{v.size:,} numbers**:")
        st.code(analysis.format_row(v, 10), language=None)


def show_cosine(ws: WorkSet) -> None:
    a, b = _anchor(ws), _nearest(ws)
    side = min(260, room(reserve=70 + 170))  # captions, then the four lines of arithmetic
    c = st.columns(2)
    with c[0]:
        _image(ws, a, side, "A: ")
    with c[1]:
        _image(ws, b, side, "B (A's nearest neighbour): ")
    walk = analysis.cosine_walk(ws.vectors[a], ws.vectors[b])
    st.code(f"cos θ = (A · B) / (‖A‖ × ‖B‖)\n      = {walk['dot']:.4g} / ({walk['norm_a']:.4g} × {walk['norm_b']:.4g})"
            f"\n      = {walk['cos']:.4f}", language=None)


def map_figures(ws: WorkSet) -> dict:
    proj = get_projection(ws, method="pca")
    return {"map": map_figure(proj.coords, tags=chosen_tags(ws), sources=ws.sources, tag_name=tag_column(ws),
                              focus=_anchor(ws), height=600, colors=story_data.tag_colours(ws))}


def show_map(ws: WorkSet) -> None:
    _chart(_figures(ws, "map", map_figures)["map"], "presenter_map", room(reserve=110))  # two lines under it
    proj = get_projection(ws, method="pca")
    share = (f" These two axes keep {100 * float(sum(proj.explained_variance_ratio)):.0f}% of the spread of the "
             "vectors; the rest is flattened away." if proj.explained_variance_ratio is not None else "")
    _text(f"PCA: the two directions in which the {len(ws):,} vectors differ most, one colour per tag. "
          f"The gold diamond is image A from the previous steps ({md(chosen_tags(ws)[_anchor(ws)])}).{share}")


def show_pairs(ws: WorkSet) -> None:
    info = C.positives_and_negatives(ws.vectors, chosen_tags(ws), _anchor(ws), k=1)
    side = min(260, room(reserve=70 + 70))  # captions, then the distance
    c = st.columns(3)
    with c[0]:
        _image(ws, _anchor(ws), side, "anchor: ")
    for col, key, label in ((c[1], "positives", "closest same tag"), (c[2], "hard_negatives", "closest other tag")):
        with col:
            if info[key]:
                i, d = info[key][0]
                _image(ws, i, side, f"{label}: ")
                st.markdown(f"### cosine distance {d:.3f}")
            else:
                _text(f"No {label} image in this set.")


def training_figures(ws: WorkSet) -> dict:
    """The held-out numbers and the before -> after animation (ValueError when the set is too small)."""
    result = story_data.trained_head(ws)
    before, after = story_data.head_maps(ws, result)
    after = story_figures.align_to(before, after)
    return {"numbers": story_figures.big_number_row(_training_numbers(result), height=150),
            "animation": story_figures.transition_animation(before, after, tags=chosen_tags(ws), sources=ws.sources,
                                                            height=560, colors=story_data.tag_colours(ws))}


def _training_numbers(result: dict) -> dict:
    return {"held-out k-NN before": result.knn_before, "after": result.knn_after,
            "held-out silhouette before": result.silhouette_before, "after ": result.silhouette_after}


def prepare_training(ws: WorkSet, progress: Progress) -> dict:
    story_data.trained_head(ws, progress=progress)
    return _figures(ws, "training", training_figures)


def show_training(ws: WorkSet) -> None:
    try:
        figs = _figures(ws, "training", training_figures)
    except ValueError as exc:  # too small a set to hold images out
        st.warning(f"No head trained: {md(exc, max_length=300)}")
        return
    result = story_data.trained_head(ws)
    if result.note:  # too few images to hold any out: trained on all, said plainly
        st.info(result.note)  # our own sentence (counts only), as on the contrastive page
    used = _numbers(figs["numbers"], _training_numbers(result), "presenter_numbers", 130)
    _chart(figs["animation"], "presenter_anim", room(reserve=used + 90 + (60 if result.note else 0)))
    if result.n_held_out:
        _text(f"Trained on {result.n_train} images in {result.seconds:.1f} s; the numbers are for the "
              f"{result.n_held_out} held-out images it never saw. Press ▶ play to watch the points move.")


def _smear_numbers(measures) -> dict:
    return {"10-NN tag agreement": measures.knn_agreement, "chance": measures.chance,
            "silhouette": measures.silhouette}


def smear_figures(ws: WorkSet) -> dict:
    measures = story_data.tag_measures(ws, 10)
    colours = story_data.tag_colours(ws)
    conf = measures.confusion
    order, groups = story_data.related_tag_order(ws, conf["matrix"], conf["tags"])
    return {"numbers": story_figures.big_number_row(_smear_numbers(measures), height=150),
            "bars": story_figures.per_tag_bars(measures.per_tag, colors=colours),
            "confusion": story_figures.confusion_figure(conf["matrix"], conf["tags"], order=order, groups=groups,
                                                        colors=colours, width=half_width(),
                                                        font_size=story_figures.PROJECTOR_TEXT_PX)}


def show_smear(ws: WorkSet) -> None:
    figs = _figures(ws, "smear", smear_figures)
    used = _numbers(figs["numbers"], _smear_numbers(story_data.tag_measures(ws, 10)), "presenter_smear_numbers", 120)
    height = room(reserve=used + 50)  # one line under the charts
    c = st.columns(2)
    with c[0]:
        _chart(figs["bars"], "presenter_bars", height)
    with c[1]:
        _chart(figs["confusion"], "presenter_conf", height)
    smears = story_data.tag_measures(ws, 10).smears
    if smears:
        p = smears[0]
        _text(f"Most mixed-up: **{md(p['tags'][0])} ↔ {md(p['tags'][1])}** ({p['share']:.0%} of neighbours).")


STEPS = [
    Step("pixels", "An image is a grid of pixels",
         "This picture is nothing but a grid of numbers: three colour values per pixel, each from 0 to 255.",
         show_pixels),
    Step("numbers", "The embedder turns it into a row of numbers",
         "The embedder turns the whole picture into one long row of numbers: its vector.", show_numbers),
    Step("cosine", "Cosine similarity: do two rows point the same way?",
         "Two images count as similar when their vectors point the same way: the cosine of the angle.",
         show_cosine, lambda ws, progress: get_neighbours(ws, 1)),
    Step("map", "Every image on one map",
         "Every image is one dot, and images the embedder finds alike land close together.",
         show_map, lambda ws, progress: _figures(ws, "map", map_figures)),
    Step("pairs", "Positive and negative pairs",
         "Training pulls same-tag pairs together and pushes the closest image of another tag away.", show_pairs),
    Step("training", "Training a contrastive head",
         "A small head trained on 70% of the images moves them; we score it on the 30% it never saw.",
         show_training, prepare_training),
    Step("smear", "Why hands smear",
         "How well each tag stands apart, and which tags' neighbours get mixed up: where hands smear.",
         show_smear, lambda ws, progress: _figures(ws, "smear", smear_figures)),
]


def warm_up(ws: WorkSet) -> None:
    """Every step's data, once per set, under one progress bar; a step that cannot compute says so when shown."""
    def compute() -> bool:
        with progress_box(f"Preparing all {len(STEPS)} steps for {ws.name}") as progress:
            for i, step in enumerate(STEPS):
                def sub(done: int, total: int, message: str = "", i: int = i, step: Step = step) -> None:
                    frac = min(max(done / total, 0.0), 1.0) if total else 1.0
                    progress(round(100 * (i + frac) / len(STEPS)), 100, f"Step {i + 1} of {len(STEPS)}: {step.title}")

                sub(0, 1)
                try:
                    step.prepare(ws, sub)
                except ValueError:  # e.g. too few images to hold any out; the step explains itself
                    pass
        return True

    memo("other", ("presenter_ready", ws.key, tag_column(ws)), compute)
