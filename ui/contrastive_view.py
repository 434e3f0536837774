"""The Contrastive head page's sections, as functions of the record: train a head and watch the map move,
an image–text model (LiT-style) with a phrase box, zero-shot on held-out tags, tag arithmetic."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from explorer.story import contrastive as C
from explorer.story import figures as story_figures
from explorer.story import smear as story
from explorer.story import text_encoders, textmodel
from explorer.words import tie_ranks
from explorer.workset import WorkSet
from ui import render, story_data, zero_shot_view
from ui.compute import get_projection, memo
from ui.safe import md
from ui.state import HEAD_RUN, ZERO_SHOT_RUN, chosen_tags, ran, remember_run, tag_column
from ui.status import progress_box


def head_section(ws: WorkSet) -> None:
    """Train a small projection head on the vectors (held-out scores, the map before and after)."""
    c = st.columns(5)
    kind = c[0].selectbox("Head", ["linear", "mlp"], key="head_kind")
    steps = c[1].slider("Training steps", 20, 600, 150, step=10, key="head_steps")
    temperature = c[2].select_slider("Temperature", [0.05, 0.1, 0.2, 0.5], value=0.1, key="head_temp")
    method = c[3].selectbox("Map", ["pca", "tsne"], key="head_method")
    seed = int(c[4].number_input("Seed", 0, 10_000, 0, key="head_seed"))
    settings = C.TrainSettings(kind=kind, steps=int(steps), temperature=float(temperature))
    run_key = story_data.head_key(ws, settings, seed)  # shared with presenter mode (ui/story_data.py)

    if st.button("Train the head", type="primary", key="head_train"):
        remember_run(HEAD_RUN, run_key)


    result = story_data.trained_head(ws, settings, seed) if ran(HEAD_RUN, run_key) else None
    if result is None:
        st.info("Press **Train the head**: a few seconds for a couple of thousand images.")
    else:
        if result.note:  # too few images to hold any out: the head trained on all of them
            st.info(result.note)
        kb, ka = result.knn_before, result.knn_after
        m = st.columns(4)
        m[0].metric("held-out 10-NN agreement, before", "n/a" if kb is None else f"{kb:.3f}")
        m[1].metric("after", "n/a" if ka is None else f"{ka:.3f}", None if ka is None or kb is None else f"{ka - kb:+.3f}")
        sb, sa = result.silhouette_before, result.silhouette_after
        m[2].metric("held-out silhouette, before", "n/a" if sb is None else f"{sb:.3f}")
        m[3].metric("after", "n/a" if sa is None else f"{sa:.3f}", None if sa is None or sb is None else f"{sa - sb:+.3f}")
        st.caption(f"{result.n_train} training images, {result.n_held_out} held out; trained in "
                   f"{result.seconds:.1f} s. A gain here means the head generalises to images it never saw; "
                   "no gain means the embedder's vectors do not carry what separates these tags.")
        with st.expander("Training loss"):
            st.plotly_chart(story_figures.loss_curve(result.train_loss), config=render.PLOTLY_CONFIG, key="head_loss")
        before, after = story_data.head_maps(ws, result, method=method, settings=settings, seed=seed)
        after = story_figures.align_to(before, after)
        st.markdown("#### The map before and after (same projection settings; diamonds = held out)")
        st.plotly_chart(story_figures.before_after_maps(before, after, tags=chosen_tags(ws), sources=ws.sources,
                                                        colors=story_data.tag_colours(ws),
                                                        held_out=result.held_out_index,
                                                        titles=(f"{ws.embedder_name} vectors", "after the head")),
                        config=render.PLOTLY_CONFIG, key="head_before_after")
        st.markdown("#### Watch the points move")
        st.caption("The after-map is rotated/scaled (Procrustes) onto the before-map so only real movement shows.")
        st.plotly_chart(story_figures.transition_animation(before, after, tags=chosen_tags(ws), sources=ws.sources,
                                                           colors=story_data.tag_colours(ws)),
                        config=render.PLOTLY_CONFIG, key="head_anim")


def text_section(ws: WorkSet) -> None:
    """The image–text model: locked towers, two trained projections, a phrase box."""
    st.markdown("## An image–text model: locked towers, a learned joint space")
    st.caption("The essay's contrastive image–text model in miniature, the way LiT (locked-image tuning) builds one: "
               f"the image vectors ({md(ws.embedder_name)}) and a text encoder stay as they are; only two small "
               "projections into one shared space are trained, so that each image lands next to captions of its tag "
               '(the tag itself and plain templates such as "a photo of a {tag}"). Then type any phrase.')
    encoder_name = st.radio("Text encoder", list(text_encoders.TEXT_ENCODERS), horizontal=True, key="text_encoder",
                            help=" · ".join(f"{k}: {v}" for k, v in text_encoders.TEXT_ENCODERS.items()))
    st.caption(md(text_encoders.TEXT_ENCODERS[encoder_name], max_length=300))
    encoder = text_encoder_or_none(encoder_name)
    extra_columns = {c: ws.columns[c] for c in list(ws.columns) if c != tag_column(ws)}

    def train_text():
        with progress_box(f"Training the image–text projections ({encoder_name} text encoder)") as progress:
            return textmodel.train_on_tags(ws.vectors, chosen_tags(ws), encoder=encoder, extra_tags=extra_columns,
                                           seed=0, progress=progress)

    if encoder is not None:
        model = memo("other", ("story_text", ws.key, tag_column(ws), encoder_name), train_text)
        show_phrase(ws, model)


def text_encoder_or_none(name: str):
    """The shared encoder, or None with the reason shown (a missing optional extra is not an error)."""
    if name not in text_encoders.available_text_encoders():
        st.warning(f"The {name} text encoder is not installed. {md(text_encoders.TEXT_HINT)}")
        return None
    try:
        with st.spinner(f"Loading the {name} text encoder from its installed package (the first time only)"):
            return text_encoders.get_text_encoder(name)
    except ValueError as exc:
        st.warning(md(str(exc)))
        return None


def show_phrase(ws: WorkSet, model) -> None:
    phrase = st.text_input("A phrase", value=chosen_tags(ws)[0], max_chars=80, key="text_phrase",
                           help="Try a tag, a synonym of one, a description of a gesture, or nonsense.")
    query = textmodel.query_images(model, phrase, ws.vectors, k=8)
    if not query.known:
        known = ", ".join(sorted(model.vocabulary.words)) if model.vocabulary else ""
        st.warning(f"The model knows none of the words of this phrase ({md(', '.join(query.unknown_words) or 'no letters or digits')}"
                   f"{'; template words ' + md(', '.join(query.filler_words)) + ' say nothing about a tag' if query.filler_words else ''}), "
                   "so it ranks nothing: any ranking would be noise. The hashed encoder knows only the words (and "
                   f"close spellings) of the tags it was trained on: {md(known, max_length=400)}.")
        return
    if query.unknown_words:
        st.info(f"Unknown to the model and left out: {md(', '.join(query.unknown_words))}. "
                f"It answers for: “{md(query.read_as)}”.")
    if model.text_model != "hashed":
        names = list(dict.fromkeys(chosen_tags(ws)))
        raw = model.text_features([phrase] + names)
        cos = raw[1:] @ raw[0]
        best = int(np.argmax(cos))
        st.caption(f"{md(model.text_model)} places every phrase somewhere, nonsense too: judge the answer by how "
                   f"close the phrase is to any tag name in {md(model.text_model)}'s own space. Closest here: "
                   f"“{md(names[best])}” at cosine {cos[best]:.2f}.")
    proj = get_projection(ws, method="pca")
    star = textmodel.star_position(proj.coords, query.scores, k=8)
    col_map, col_tags = st.columns([3, 1])
    with col_map:
        st.plotly_chart(story_figures.star_map(proj.coords, star, tags=chosen_tags(ws), sources=ws.sources, phrase=phrase,
                                               colors=story_data.tag_colours(ws),
                                               nearest=[i for i, _ in query.nearest]),
                        config=render.PLOTLY_CONFIG, key="text_star")
        st.caption("The star sits at the score-weighted mean map position of the 8 best-matching images "
                   "(a t-SNE map has no formula for new points, so every map uses the same rule).")
    with col_tags:
        ranked = textmodel.rank_tags(model, phrase, ws.vectors, chosen_tags(ws))
        ranks = tie_ranks([s for _, s in ranked])
        st.markdown("**Tags ranked for this phrase**")
        st.dataframe({"rank": ranks, "tag": [t for t, _ in ranked], "score": [round(s, 3) for _, s in ranked]},
                     hide_index=True)
        tied = [t for (t, _), r in zip(ranked, ranks) if r == "1="]
        if tied:
            st.info(f"A tie for first place: {md(', '.join(tied))} score the same ({ranked[0][1]:.3f}).")
    image_ranks = tie_ranks([s for _, s in query.nearest])
    render.image_grid(ws, [i for i, _ in query.nearest],
                      captions=[f"{r} · {s:.3f} · {chosen_tags(ws)[i]}" for r, (i, s) in zip(image_ranks, query.nearest)],
                      columns=8, width=90, key="text_nearest")


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def verdict(top1: float | None, chance: float, n: int) -> str:
    """What the unseen-tag number says, against chance and its sampling noise (2 binomial s.d.)."""
    if top1 is None or n == 0:
        return "nothing to measure"
    noise = 2 * math.sqrt(chance * (1 - chance) / n)
    if top1 > chance + noise:
        return "above chance"
    return "below chance" if top1 < chance - noise else "at chance"


def zero_shot_section(ws: WorkSet) -> None:
    """Tags the model never saw: top-1 against chance, per installed text encoder."""
    st.markdown("#### Zero-shot: tags the model never saw")
    n_tags = len(set(chosen_tags(ws)))
    if n_tags < 3:
        st.info("Zero-shot needs at least 3 tags: some held out, at least 2 to train on.")
    else:
        st.caption("Some tags are held out entirely: none of their images and none of their captions are trained on. "
                   "Then every held-out image (those tags' images, and 30 % of the other tags' images) is classified "
                   "among **all** tag names by text similarity. Chance is one over the number of tags. The last "
                   "columns ask the never-seen tags' images to choose among the never-seen names only: can the text "
                   "encoder's meaning carry over to new tags at all, even where trained tags out-score them?")
        z = st.columns([2, 1, 1])
        if n_tags == 3:  # one tag out, two to train on: nothing to choose (a slider needs a range)
            holdout = 1
            z[0].markdown("Tags held out: **1** (3 tags: two must stay for training)")
        else:
            holdout = int(z[0].slider("Tags held out", 1, n_tags - 2, story.default_zero_shot_holdout(n_tags),
                                      key="zero_shot_k"))
        zs_seed = int(z[1].number_input("Seed", 0, 10_000, 0, key="zero_shot_seed"))
        zs_key = ("zero_shot", ws.key, tag_column(ws), holdout, zs_seed)
        if z[2].button("Measure zero-shot", key="zero_shot_run"):
            remember_run(ZERO_SHOT_RUN, zs_key)
        if not ran(ZERO_SHOT_RUN, zs_key):
            st.info("Press **Measure zero-shot**: it trains the projections once per installed text encoder.")
        else:
            rows = []
            for name in text_encoders.TEXT_ENCODERS:
                enc = text_encoder_or_none(name)
                if enc is None:
                    continue

                def measure(enc=enc, name=name):
                    with progress_box(f"Zero-shot with the {name} text encoder") as progress:
                        return textmodel.zero_shot(ws.vectors, chosen_tags(ws), held_out=holdout, encoder=enc, seed=zs_seed,
                                                   progress=progress)

                res = memo("other", zs_key + (name,), measure)
                rows.append({"text encoder": name,
                             "top-1, held-out images of trained tags": res.seen_top1,
                             "top-1, images of never-seen tags": res.unseen_top1, "chance": res.chance,
                             "never-seen tags": ", ".join(res.held_out_tags),
                             "never-seen vs chance": verdict(res.unseen_top1, res.chance, len(res.unseen_index)),
                             "top-1 among the never-seen tag names only": res.unseen_only_top1,
                             "chance among them": res.unseen_only_chance,
                             "among them vs chance": verdict(res.unseen_only_top1, res.unseen_only_chance,
                                                             len(res.unseen_index)),
                             "images (trained / held-out / never-seen tags)":
                                 f"{len(res.train_index)} / {len(res.seen_test_index)} / {len(res.unseen_index)}"})
            if rows:  # one row per measure, one column per encoder: narrow enough for the page at 1280 px
                st.dataframe({"measure": [k for k in rows[0] if k != "text encoder"],
                              **{row["text encoder"]: [fmt(v) if v is None or isinstance(v, float) else str(v)
                                                       for k, v in row.items() if k != "text encoder"]
                                 for row in rows}}, hide_index=True, width="stretch")
                for row in rows:
                    st.markdown(f"- **{md(row['text encoder'])}**: on tags it never saw, top-1 is "
                                f"{fmt(row['top-1, images of never-seen tags'])} against chance {row['chance']:.3f} — "
                                f"**{row['never-seen vs chance']}** (2 standard deviations of sampling noise); on "
                                f"new images of trained tags it is {fmt(row['top-1, held-out images of trained tags'])}. "
                                f"Asked to choose among the never-seen tag names only, it scores "
                                f"{fmt(row['top-1 among the never-seen tag names only'])} against chance "
                                f"{row['chance among them']:.3f} — **{row['among them vs chance']}**.")
            zero_shot_view.methods_section(ws, holdout, zs_seed, zs_key)


def blend_section(ws: WorkSet) -> None:
    """Tag arithmetic: the images nearest to a blend of two tags' centroids."""
    st.markdown("#### Tag arithmetic: blend two tags")
    tags = list(dict.fromkeys(chosen_tags(ws)))
    b = st.columns(3)
    first = b[0].selectbox("First tag", tags, index=0, key="blend_a")
    second = b[1].selectbox("Second tag", tags, index=min(1, len(tags) - 1), key="blend_b")
    weight = b[2].slider("Weight of the second", 0.0, 1.0, 0.5, 0.05, key="blend_w")
    blend = textmodel.blend_tags(ws.vectors, chosen_tags(ws), first, second, weight=weight, k=8)
    st.caption(f"(1 − {weight:.2f}) × centroid({md(first)}) + {weight:.2f} × centroid({md(second)}) in the "
               f"{md(ws.embedder_name)} space; the images nearest to the blend:")
    render.image_grid(ws, [i for i, _ in blend["nearest"]], captions=[f"{s:.3f} · {chosen_tags(ws)[i]}" for i, s in blend["nearest"]],
                      columns=8, width=90, key="blend_nearest")
