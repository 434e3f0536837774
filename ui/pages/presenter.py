"""Presenter mode: the essay as a guided sequence of live steps, big type, bookmarkable by URL."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import contrastive as C
from explorer import story, story_figures
from explorer.sources import LoadError
from ui import analysis, render
from ui import workspace as wsp
from ui.safe import md

STEPS = [
    ("pixels", "An image is a grid of pixels"),
    ("numbers", "The embedder turns it into a row of numbers"),
    ("cosine", "Cosine similarity: do two rows point the same way?"),
    ("map", "Every image on one map"),
    ("pairs", "Positive and negative pairs"),
    ("training", "Training a contrastive head"),
    ("smear", "Why hands smear"),
]
# Fixed markup (no user text): larger type for a projector.
STYLE = "<style>div[data-testid='stMarkdownContainer'] p{font-size:1.35rem} code{font-size:1.2rem !important}</style>"


def _step_from_url() -> int:
    raw = st.query_params.get("step", "1")
    try:
        return min(max(int(raw), 1), len(STEPS))
    except ValueError:
        return 1


def _workspace():
    """The set named in the URL (``source=demo:NAME&embedder=NAME``), else the sidebar's, written into the URL."""
    source, embedder = st.query_params.get("source"), st.query_params.get("embedder")
    if source is None or embedder is None:
        ws = wsp.current_workspace()
        choice = wsp.current_choice()
        if ws is not None and choice.kind == "demo":
            st.query_params["source"], st.query_params["embedder"] = choice.ref, ws.embedder_name
        return ws
    if not source.startswith("demo:"):
        st.error("A presenter bookmark can name a built-in demo only (source=demo:NAME).")
        return None
    try:
        return wsp.memo("other", ("presenter_ws", source, embedder), lambda: _load_demo(source, embedder))
    except (LoadError, ValueError) as exc:  # the URL is anyone's text: quote it only escaped
        st.error(f"Cannot open this bookmark: {md(exc, max_length=300)}")
        return None


def _load_demo(source: str, embedder_name: str) -> wsp.Workspace:
    from explorer.cache import EmbeddingCache, default_cache_dir
    from explorer.embedders import embed_set, get_embedder
    from explorer.sources import load_source

    images = load_source(source)
    embedder = get_embedder(embedder_name)
    with wsp.progress_box(f"Embedding {len(images)} images with {embedder_name}") as progress:
        vectors = np.asarray(embed_set(images, embedder, cache=EmbeddingCache(default_cache_dir()), progress=progress),
                             dtype=np.float32)
    return wsp.Workspace(name=images.name, key=wsp.content_key(source, embedder.cache_key), images=images,
                         ids=images.ids, sources=images.sources, tag_column="tag",
                         columns={"tag": images.tags, **images.extra_tags}, vectors=vectors,
                         embedder_name=embedder_name, embedder=embedder, skipped=images.skipped)


def _go(step: int) -> None:
    st.query_params["step"] = str(step)


step = _step_from_url()
st.markdown(STYLE, unsafe_allow_html=True)
nav = st.columns([1.3, 5, 1.3])
if nav[0].button("◀ back", disabled=step == 1, key="presenter_prev", width="stretch"):
    _go(step - 1)
    st.rerun()
if nav[2].button("next ▶", disabled=step == len(STEPS), key="presenter_next", width="stretch"):
    _go(step + 1)
    st.rerun()
nav[1].caption(f"Step {step} of {len(STEPS)} · the URL keeps the step, the set and the embedder: bookmark it.")
_go(step)
name, title = STEPS[step - 1]
st.title(f"{step}. {title}")

ws = _workspace()
if ws is None:
    st.stop()
anchor = wsp.focus_row(ws) or 0
nearest = int(wsp.get_neighbours(ws, 1)[0][anchor, 0]) if len(ws) > 1 else anchor


def show_image(i: int, width: int = 320, label: str = "") -> None:
    render.image_or_name(ws, i, caption=f"{label}{ws.sources[i]} · {ws.tags[i]}", width=width)


if name == "pixels":
    c = st.columns([1.2, 2])
    with c[0]:
        show_image(anchor, 300)
    with c[1]:
        if ws.images is not None:
            px = ws.images.pixels[anchor]
            st.markdown(f"A {px.shape[0]}×{px.shape[1]} picture with 3 colour channels is "
                        f"**{px.size:,} numbers** from 0 to 255. The red channel of the top-left corner:")
            st.code("\n".join(" ".join(f"{v:3d}" for v in row) for row in px[:6, :8, 0]), language=None)
        else:
            st.info("This set holds vectors only, no pictures.")
elif name == "numbers":
    c = st.columns([1, 2])
    with c[0]:
        show_image(anchor, 300)
    with c[1]:
        v = ws.vectors[anchor]
        st.markdown(f"The **{md(ws.embedder_name)}** embedder makes a row of **{v.size:,} numbers**:")
        st.code(analysis.format_row(v, 10), language=None)
elif name == "cosine":
    c = st.columns(2)
    with c[0]:
        show_image(anchor, 260, "A: ")
    with c[1]:
        show_image(nearest, 260, "B: ")
    walk = analysis.cosine_walk(ws.vectors[anchor], ws.vectors[nearest])
    st.code(f"cos θ = (A · B) / (‖A‖ × ‖B‖)\n      = {walk['dot']:.4g} / ({walk['norm_a']:.4g} × {walk['norm_b']:.4g})"
            f"\n      = {walk['cos']:.4f}", language=None)
elif name == "map":
    proj = wsp.get_projection(ws, method="pca")
    from explorer.figures import map_figure

    st.plotly_chart(map_figure(proj.coords, tags=ws.tags, sources=ws.sources, focus=anchor, height=640),
                    config=render.PLOTLY_CONFIG, key="presenter_map")
elif name == "pairs":
    info = C.positives_and_negatives(ws.vectors, ws.tags, anchor, k=1)
    c = st.columns(3)
    with c[0]:
        show_image(anchor, 260, "anchor: ")
    for col, key, label in ((c[1], "positives", "closest same tag"), (c[2], "hard_negatives", "closest other tag")):
        with col:
            if info[key]:
                i, d = info[key][0]
                show_image(i, 260, f"{label}: ")
                st.markdown(f"### cosine distance {d:.3f}")
elif name == "training":
    result = wsp.memo("other", ("presenter_head", ws.key),
                      lambda: C.held_out_comparison(ws.vectors, ws.tags, seed=0))
    if result.get("note"):  # too few images to hold any out
        st.info(result["note"])
    st.plotly_chart(story_figures.big_number_row({
        "held-out k-NN before": result["knn_before"], "after": result["knn_after"],
        "held-out silhouette before": result["silhouette_before"], "after ": result["silhouette_after"]}),
        config=render.PLOTLY_CONFIG, key="presenter_numbers")

    def maps():
        from explorer.projection import project

        before = project(ws.vectors, method="pca").coords
        after = project(result["result"].head.transform(ws.vectors), method="pca").coords
        return before, story_figures.align_to(before, after)

    before, after = wsp.memo("other", ("presenter_maps", ws.key), maps)
    st.plotly_chart(story_figures.transition_animation(before, after, tags=ws.tags, sources=ws.sources, height=480),
                    config=render.PLOTLY_CONFIG, key="presenter_anim")
    st.caption(f"Trained on {result['n_train']} images in {result['seconds']:.1f} s; numbers are for the "
               f"{result['n_held_out']} held-out images it never saw.")
elif name == "smear":
    measures = wsp.memo("other", ("story_measures", ws.key, ws.tag_column, 10),
                        lambda: story.tag_measures(ws.vectors, ws.tags, k=10))
    st.plotly_chart(story_figures.big_number_row({"10-NN tag agreement": measures["knn_agreement"],
                                                  "chance": measures["chance"],
                                                  "silhouette": measures["silhouette"]}),
                    config=render.PLOTLY_CONFIG, key="presenter_smear_numbers")
    c = st.columns(2)
    with c[0]:
        st.plotly_chart(story_figures.per_tag_bars(measures["per_tag"]), config=render.PLOTLY_CONFIG,
                        key="presenter_bars")
    with c[1]:
        conf = measures["confusion"]
        st.plotly_chart(story_figures.confusion_figure(conf["matrix"], conf["tags"]), config=render.PLOTLY_CONFIG,
                        key="presenter_conf")
    if measures["smears"]:
        p = measures["smears"][0]
        st.markdown(f"Most mixed-up: **{md(p['tags'][0])} ↔ {md(p['tags'][1])}** ({p['share']:.0%} of neighbours).")
