"""Train a contrastive head live, see the map before and after, and ask a tiny image-text model for a phrase."""

from __future__ import annotations

import streamlit as st

from explorer import contrastive as C
from explorer import story_figures, textmodel
from ui import render, story_data
from ui.safe import md
from ui import workspace as wsp

st.markdown("## A contrastive head, trained live")
ws = wsp.current_workspace()
if ws is None:
    st.stop()
if len(set(ws.tags)) < 2:
    st.warning("Training needs at least two tags.")
    st.stop()
st.caption("A small projection head on top of the embedder's vectors, trained here in numpy with a supervised "
           "contrastive loss (same tag = positive). 30 % of the images are held out and never trained on; the "
           "numbers below are measured on them only.")

c = st.columns(5)
kind = c[0].selectbox("Head", ["linear", "mlp"], key="head_kind")
steps = c[1].slider("Training steps", 20, 600, 150, step=10, key="head_steps")
temperature = c[2].select_slider("Temperature", [0.05, 0.1, 0.2, 0.5], value=0.1, key="head_temp")
method = c[3].selectbox("Map", ["pca", "tsne"], key="head_method")
seed = int(c[4].number_input("Seed", 0, 10_000, 0, key="head_seed"))
settings = C.TrainSettings(kind=kind, steps=int(steps), temperature=float(temperature))
run_key = story_data.head_key(ws, settings, seed)  # shared with presenter mode (ui/story_data.py)

if st.button("Train the head", type="primary", key="head_train"):
    st.session_state["head_trained"] = run_key


result = story_data.trained_head(ws, settings, seed) if st.session_state.get("head_trained") == run_key else None
if result is None:
    st.info("Press **Train the head**: a few seconds for a couple of thousand images.")
else:
    m = st.columns(4)
    m[0].metric("held-out 10-NN agreement, before", f"{result['knn_before']:.3f}")
    m[1].metric("after", f"{result['knn_after']:.3f}", f"{result['knn_after'] - result['knn_before']:+.3f}")
    sb, sa = result["silhouette_before"], result["silhouette_after"]
    m[2].metric("held-out silhouette, before", "n/a" if sb is None else f"{sb:.3f}")
    m[3].metric("after", "n/a" if sa is None else f"{sa:.3f}", None if sa is None or sb is None else f"{sa - sb:+.3f}")
    st.caption(f"{result['n_train']} training images, {result['n_held_out']} held out; trained in "
               f"{result['seconds']:.1f} s. A gain here means the head generalises to images it never saw; "
               "no gain means the embedder's vectors do not carry what separates these tags.")
    with st.expander("Training loss"):
        st.plotly_chart(story_figures.loss_curve(result["train_loss"]), config=render.PLOTLY_CONFIG, key="head_loss")
    before, after = story_data.head_maps(ws, result, method=method, settings=settings, seed=seed)
    after = story_figures.align_to(before, after)
    st.markdown("#### The map before and after (same projection settings; diamonds = held out)")
    st.plotly_chart(story_figures.before_after_maps(before, after, tags=ws.tags, sources=ws.sources,
                                                    colors=story_data.tag_colours(ws),
                                                    held_out=result["held_out_index"],
                                                    titles=(f"{ws.embedder_name} vectors", "after the head")),
                    config=render.PLOTLY_CONFIG, key="head_before_after")
    st.markdown("#### Watch the points move")
    st.caption("The after-map is rotated/scaled (Procrustes) onto the before-map so only real movement shows.")
    st.plotly_chart(story_figures.transition_animation(before, after, tags=ws.tags, sources=ws.sources,
                                                       colors=story_data.tag_colours(ws)),
                    config=render.PLOTLY_CONFIG, key="head_anim")

st.markdown("## A tiny image–text model")
st.caption("Contrastive image pre-training in miniature: two linear heads (images, and hashed words and letter "
           "groups of the tags) trained so each image lands next to its own tag text. Then type any phrase.")
texts = textmodel.image_texts(ws.tags, {c: ws.column(c) for c in ws.tag_columns if c != ws.tag_column})


def train_text():
    with wsp.progress_box("Training the image–text model") as progress:
        return textmodel.train_image_text(ws.vectors, texts, seed=0, progress=progress)


model = wsp.memo("other", ("story_text", ws.key, ws.tag_column), train_text)
phrase = st.text_input("A phrase", value=ws.tags[0], max_chars=80, key="text_phrase",
                       help="Try a tag, two tags at once, or a word from another tag column.")
query = textmodel.query_images(model, phrase, ws.vectors, k=8)
if not query.known:
    st.warning("The phrase has no letters or digits the model can read.")
else:
    proj = wsp.get_projection(ws, method="pca")
    star = textmodel.star_position(proj.coords, query.scores, k=8)
    col_map, col_tags = st.columns([3, 1])
    with col_map:
        st.plotly_chart(story_figures.star_map(proj.coords, star, tags=ws.tags, sources=ws.sources, phrase=phrase,
                                               colors=story_data.tag_colours(ws),
                                               nearest=[i for i, _ in query.nearest]),
                        config=render.PLOTLY_CONFIG, key="text_star")
        st.caption("The star sits at the score-weighted mean map position of the 8 best-matching images "
                   "(a t-SNE map has no formula for new points, so every map uses the same rule).")
    with col_tags:
        st.markdown("**Tags ranked for this phrase**")
        st.dataframe({"tag": [t for t, _ in textmodel.rank_tags(model, phrase, ws.vectors, ws.tags)],
                      "score": [round(s, 3) for _, s in textmodel.rank_tags(model, phrase, ws.vectors, ws.tags)]},
                     hide_index=True)
    render.image_grid(ws, [i for i, _ in query.nearest], captions=[f"{s:.3f} · {ws.tags[i]}" for i, s in query.nearest],
                      columns=8, width=90, key="text_nearest")

st.markdown("#### Tag arithmetic: blend two tags")
tags = list(dict.fromkeys(ws.tags))
b = st.columns(3)
first = b[0].selectbox("First tag", tags, index=0, key="blend_a")
second = b[1].selectbox("Second tag", tags, index=min(1, len(tags) - 1), key="blend_b")
weight = b[2].slider("Weight of the second", 0.0, 1.0, 0.5, 0.05, key="blend_w")
blend = textmodel.blend_tags(ws.vectors, ws.tags, first, second, weight=weight, k=8)
st.caption(f"(1 − {weight:.2f}) × centroid({md(first)}) + {weight:.2f} × centroid({md(second)}) in the "
           f"{md(ws.embedder_name)} space; the images nearest to the blend:")
render.image_grid(ws, [i for i, _ in blend["nearest"]], captions=[f"{s:.3f} · {ws.tags[i]}" for i, s in blend["nearest"]],
                  columns=8, width=90, key="blend_nearest")
