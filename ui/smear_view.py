"""The "Why hands smear" page's sections, as functions of the record: separation per tag and which tags smear
together, fewer configurations, hands vs objects on one embedder, and the shared real photo sets."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from explorer.embedders import available_embedders
from explorer.figures import FULL_COLUMN_PX
from explorer.story import figures as story_figures
from explorer.story import smear as story
from explorer.io.load import load_workset
from explorer.workset import WorkSet
from ui import render, story_data
from ui.compute import memo
from ui.safe import md
from ui.state import SMEAR_RUN, chosen_tags, ran, remember_run, tag_column
from ui.status import progress_box

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_SETS = {"hands (sign-language digits)": "sign-language-digits", "objects (grocery)": "grocery-subset"}


def measures_section(ws: WorkSet, k: int) -> None:
    """The set's separation numbers, per-tag bars and the tag confusion matrix."""
    measures = story_data.tag_measures(ws, k)
    colours = story_data.tag_colours(ws)
    m = st.columns(4)
    m[0].metric(f"{k}-NN tag agreement", f"{measures.knn_agreement:.3f}" if measures.knn_agreement is not None else "n/a")
    m[1].metric("chance (most common tag)", f"{measures.chance:.3f}" if measures.chance is not None else "n/a")
    m[2].metric("silhouette (cosine)", f"{measures.silhouette:.3f}" if measures.silhouette is not None else "n/a")
    m[3].metric("tags · images", f"{measures.n_tags} · {measures.n_images:,}")
    for note in measures.notes:
        st.caption(md(note, max_length=300))

    st.markdown("#### Separation per tag (worst on top)")
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(story_figures.per_tag_bars(measures.per_tag, colors=colours), config=render.PLOTLY_CONFIG,
                        key="smear_bars")
    with right:
        st.caption("Silhouette (−1 to 1): how much closer an image is to its own tag than to the nearest other tag; "
                   "below 0 (red) the tag sits inside another. k-NN agreement (0 to 1): the share of its images whose "
                   f"{k} nearest neighbours mostly carry its tag.")
    # The matrix takes the page's width, so its cells can hold their percentages (figures.matrix_fit).
    st.markdown("#### Which tags smear together")
    conf = measures.confusion
    order, groups = story_data.related_tag_order(ws, conf["matrix"], conf["tags"])
    st.plotly_chart(story_figures.confusion_figure(conf["matrix"], conf["tags"], order=order, groups=groups,
                                                   colors=colours, width=FULL_COLUMN_PX),
                    config=render.PLOTLY_CONFIG, key="smear_confusion")
    st.caption("Row: an image's tag; column: the tag of its neighbours; colour fixed from 0 to 100 % of "
               "neighbours. " + (f"Tags are grouped by *{md(story_data.grouping(ws))}* (black lines), then "
                                 "ordered so tags that share neighbours sit together." if groups else
                                 "Tags are ordered so tags that share neighbours sit together."))
    if measures.smears:
        st.markdown("**Most mixed-up pairs:** " + "; ".join(
            f"{md(p['tags'][0])} ↔ {md(p['tags'][1])} ({p['share']:.0%} of neighbours)" for p in measures.smears))


def restrict_section(ws: WorkSet, k: int) -> None:
    """A subset of tags against all tags and against random subsets of the same size."""
    st.markdown("### Restrict the configurations")
    st.caption("Generators got better hands partly by allowing fewer configurations. Pick a subset of tags and "
               "compare its separation with all tags, and with random subsets of the same size (fewer tags raise "
               "k-NN agreement by chance alone).")
    tags = list(dict.fromkeys(chosen_tags(ws)))
    subset = st.multiselect("Keep only these tags", tags, default=tags[: max(2, min(3, len(tags)))], key="smear_subset")
    if len(subset) < 2:
        st.info("Pick at least two tags.")
    else:
        out = memo("other", ("story_restrict", ws.key, tag_column(ws), tuple(subset), k),
                       lambda: story.restrict_configurations(ws.vectors, chosen_tags(ws), subset, k=k, draws=20))
        rnd = out.random_subsets
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        st.dataframe({
            "": ["all tags", "your subset", f"random subsets of {len(subset)} tags (mean of {rnd['draws']})"],
            "tags": [out.all_tags["n_tags"], out.subset["n_tags"], len(subset)],
            "silhouette": [fmt(out.all_tags["silhouette"]), fmt(out.subset["silhouette"]), fmt(rnd["silhouette_mean"])],
            f"{k}-NN agreement": [fmt(out.all_tags["knn_agreement"]), fmt(out.subset["knn_agreement"]),
                                  fmt(rnd["knn_agreement_mean"])],
            "chance": [fmt(out.all_tags["chance"]), fmt(out.subset["chance"]), fmt(1 / len(subset))],
        }, hide_index=True)


def groups_section(ws: WorkSet, k: int) -> None:
    """Hands vs objects (the set's ``kind`` column) on the same embedder."""
    st.markdown("### Hands vs objects on the same embedder")
    if "kind" in list(ws.columns):
        rows = story.group_rows(ws.columns["kind"])
        if len(rows) >= 2:
            tags = chosen_tags(ws)
            groups = {name: (ws.vectors[r], [tags[i] for i in r]) for name, r in rows.items()}
            cmp = memo("other", ("story_groups", ws.key, tag_column(ws), k),
                           lambda: story.compare_groups(groups, k=k, embedder=ws.embedder_name,
                                                        image_size=ws.images.image_size if ws.images else None))
            st.plotly_chart(story_figures.group_comparison(cmp.groups), config=render.PLOTLY_CONFIG, key="smear_groups")
            # "controlled" quotes the embedder name, which an .npz file supplies
            st.caption("Controlled: " + "; ".join(md(c, max_length=200) for c in cmp.controlled)
                       + ". Not controlled: " + "; ".join(cmp.not_controlled) + ".")
    else:
        st.caption("This set has no kind column (hand/object); the built-in demo:hands has one.")


def real_photos_section(k: int) -> None:
    """The shared real photo sets (sign-language digits vs grocery), embedded on request."""
    with st.expander("Real photos: sign-language digits vs grocery (shared data)"):
        if not SHARED.is_dir():
            st.info(f"The shared photo sets are not on this server (looked in {md(SHARED, max_length=200)}).")
        else:
            e = st.columns(3)
            emb = e[0].selectbox("Embedder", available_embedders(), key="smear_real_emb",
                                 help="efficientnet-lite0 is the pretrained ImageNet CNN (when installed).")
            per_tag = e[1].slider("Images per tag", 10, 100, 30, step=10, key="smear_real_per")
            if e[2].button("Compare", key="smear_real_go"):
                remember_run(SMEAR_RUN, (emb, per_tag))
            if ran(SMEAR_RUN, (emb, per_tag)):
                def compute():
                    groups, size = {}, None
                    with progress_box(f"Loading and embedding both sets with {emb}") as progress:
                        for label, folder in REAL_SETS.items():  # the one loader: rows first, then embed a balanced part
                            s = load_workset(SHARED / folder, embedder=None, progress=progress).images
                            s = s.subset(story.balanced_rows(s.tags, per_tag=per_tag, seed=0))
                            size = s.image_size
                            groups[label] = (load_workset(s, embedder=emb, progress=progress).vectors, s.tags)
                    return story.compare_groups(groups, k=k, embedder=emb, image_size=size)

                cmp = memo("other", ("story_real", emb, per_tag, k), compute)
                st.plotly_chart(story_figures.group_comparison(cmp.groups), config=render.PLOTLY_CONFIG,
                                key="smear_real_fig")
                st.caption("Controlled: " + "; ".join(cmp.controlled) + ". Not controlled: "
                           + "; ".join(cmp.not_controlled) + ". The hand photos share one plain background; "
                           "the grocery photos are cluttered shelves.")
