"""The pairs page's sections, as functions of the record: an anchor with its closest positives and hardest
negatives, then augmented twins (alignment, uniformity, the twin map, same- vs different-tag distances)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import figures
from explorer.story import contrastive as C
from explorer.story import figures as story_figures
from explorer.measures import sample_rows
from explorer.story import smear as story
from explorer.workset import WorkSet
from ui import render, story_data
from ui.compute import memo
from ui.current import row_label
from ui.safe import md
from ui.state import chosen_tags, focus_row
from ui.status import progress_box

TWIN_LIMIT = 300  # images augmented and re-embedded for the twin map (seeded sample beyond this)


def anchor_section(ws: WorkSet) -> None:
    """An anchor image, its closest positives (same tag) and hardest negatives (other tag, closest)."""
    focus = focus_row(ws)
    c1, c2 = st.columns([3, 1])
    anchor = c1.selectbox("Anchor image", list(range(len(ws))), index=focus or 0, format_func=row_label(ws), key="pairs_anchor")
    k = c2.slider("How many of each", 1, 12, 6, key="pairs_k")
    info = C.positives_and_negatives(ws.vectors, chosen_tags(ws), anchor, k=k)

    left, right = st.columns([1, 3])
    with left:
        render.image_or_name(ws, anchor, caption=f"anchor: {ws.sources[anchor]} · {chosen_tags(ws)[anchor]}", width=200)
    with right:
        for title, key in (("Closest positives (same tag)", "positives"), ("Hardest negatives (other tag, closest)",
                                                                           "hard_negatives")):
            st.markdown(f"#### {title}")
            rows = info[key]
            if not rows:
                st.info("None: no other image has this tag." if key == "positives" else "None: every image has this tag.")
                continue
            render.image_grid(ws, [i for i, _ in rows], captions=[f"d={d:.3f} · {chosen_tags(ws)[i]}" for i, d in rows],
                              columns=6, width=100, key=f"pairs_{key}")
    if info["positives"] and info["hard_negatives"]:
        gap = info["hard_negatives"][0][1] - info["positives"][0][1]
        st.caption(f"Closest positive at cosine distance {info['positives'][0][1]:.3f}, closest negative at "
                   f"{info['hard_negatives'][0][1]:.3f} (gap {gap:+.3f}; negative gap = a negative is nearer than "
                   "every positive).")


def twins_section(ws: WorkSet) -> None:
    """How far an augmentation moves a point, against same- and different-tag distances."""
    st.markdown("### How far an augmentation moves a point")
    if ws.images is None or ws.embedder is None:
        st.info("This set is an .npz of vectors: without the pictures and the embedder there are no augmented twins.")
    else:
        seed = st.number_input("Augmentation seed", 0, 10_000, 0, key="pairs_seed")
        rows = sample_rows(len(ws), TWIN_LIMIT, seed=int(seed))

        def compute_twins():
            with progress_box(f"Augmenting and embedding {len(rows)} twins") as progress:
                return story.embed_twins(ws.images.pixels[rows], ws.embedder, seed=int(seed), progress=progress)

        twins = memo("other", ("story_twins", ws.key, int(seed), len(rows)), compute_twins)
        X = ws.vectors[rows]
        moved = C.twin_distances(X, twins)
        pairs = C.pair_distance_samples(X, [chosen_tags(ws)[i] for i in rows], seed=int(seed))
        m = st.columns(4)
        m[0].metric("alignment (twins, lower = closer)", f"{C.alignment(X, twins):.3f}")
        m[1].metric("uniformity (lower = more spread)", f"{C.uniformity(X, seed=int(seed)):.3f}")
        m[2].metric("median twin distance", f"{np.median(moved):.3f}")
        m[3].metric("median same-tag distance", f"{np.median(pairs['same']):.3f}" if len(pairs["same"]) else "n/a")
        st.caption("Alignment = mean squared distance between each image and its twin on the unit sphere (0 to 4); "
                   "uniformity = log of the mean Gaussian potential over all pairs (Wang & Isola, ICML 2020). "
                   f"Measured on {len(rows)} images with the {md(ws.embedder_name)} embedder; compare embedders in the sidebar.")
        coords, twin_coords = story.joint_map(X, twins, seed=0)
        fig = story_figures.twin_map(coords, twin_coords, tags=[chosen_tags(ws)[i] for i in rows],
                                     sources=[ws.sources[i] for i in rows], colors=story_data.tag_colours(ws),
                                     title=f"{ws.embedder_name}: each image (dot) and its augmented twin (ring), one PCA")
        st.plotly_chart(fig, config=render.PLOTLY_CONFIG, key="pairs_twin_map")
        st.markdown("#### Same-tag vs different-tag distances")
        if len(pairs["same"]) and len(pairs["different"]):
            fig = figures.distance_histograms(pairs["same"], pairs["different"])
            st.plotly_chart(fig, config=render.PLOTLY_CONFIG, key="pairs_hist")
        else:
            st.info("Need at least two tags with two images each to compare same-tag and different-tag distances.")
