"""Separation reports, restricted configurations and hands-vs-objects comparisons."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from explorer.story import smear as story

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def demo():
    from explorer.io.demos import load_demo
    from explorer.embedders import get_embedder

    s = load_demo("hands")
    emb = get_embedder("pixels")
    return s, emb, emb.embed(s.pixels)


def test_report_is_json_ready_with_the_promised_keys(demo):
    s, emb, X = demo
    r = story.separation_report(s, X, emb, seed=0).to_json()
    text = json.dumps(r, allow_nan=False)  # raises on NaN or numpy types
    assert json.loads(text)["n_images"] == len(s)
    for key in ("knn_agreement", "silhouette", "alignment", "uniformity", "per_tag", "notes"):
        assert key in r
    assert set(r["per_tag"]) == set(s.tags)
    assert 0.0 <= r["knn_agreement"] <= 1.0 and -1.0 <= r["silhouette"] <= 1.0
    assert 0.0 < r["alignment"] < 4.0 and r["uniformity"] < 0.0
    assert "held_out_knn_agreement" not in r
    rows = np.array(r["confusion"]["matrix"])
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)


def test_vectors_only_report_has_null_alignment_and_says_why(demo):
    s, _, X = demo
    r = story.separation_report(None, X, None, tags=s.tags)
    assert r.alignment is None and any("alignment" in note for note in r.notes)
    assert r.measures.knn_agreement == story.separation_report(s, X, None).measures.knn_agreement
    with pytest.raises(ValueError, match="tags"):
        story.separation_report(None, X, None)


def test_training_raises_held_out_agreement_on_the_hands_demo(demo):
    s, emb, X = demo
    r = story.separation_report(None, X, None, tags=s.tags, train_contrastive=True, seed=0).to_json()
    held = r["held_out_knn_agreement"]
    assert held["after"] > held["before"] + 0.05, held
    assert r["contrastive"]["n_train"] + r["contrastive"]["n_held_out"] == len(s)
    json.dumps(r, allow_nan=False)


def test_restricting_to_fewer_tags_reports_chance_and_a_random_baseline(demo):
    s, _, X = demo
    out = story.restrict_configurations(X, s.tags, ["fist", "ball", "star"], draws=5)
    assert out.subset["n_tags"] == 3 and out.all_tags["n_tags"] == len(set(s.tags))
    assert out.subset["chance"] == pytest.approx(1 / 3)
    assert out.random_subsets["draws"] == 5 and out.random_subsets["knn_agreement_mean"] is not None
    with pytest.raises(ValueError, match="subset"):
        story.restrict_configurations(X, s.tags, ["fist", "no such tag"])


def test_compare_groups_equalises_images_and_tags(demo):
    s, _, X = demo
    groups = {k: (X[rows], [s.tags[i] for i in rows]) for k, rows in story.group_rows(s.extra_tags["kind"]).items()}
    out = story.compare_groups(groups, embedder="pixels", seed=0)
    hand, obj = out.groups["hand"], out.groups["object"]
    assert hand["n_tags"] == obj["n_tags"] == 6  # 8 gestures cut to the 6 object kinds
    assert hand["n_images"] == obj["n_images"] == 6 * 32
    assert any("embedder" in c for c in out.controlled) and out.not_controlled


def test_smear_pairs_rank_the_most_confused_pair_first():
    M = np.array([[0.6, 0.3, 0.1], [0.4, 0.5, 0.1], [0.0, 0.1, 0.9]])
    pairs = story.smear_pairs(M, ["a", "b", "c"])
    assert pairs[0]["tags"] == ["a", "b"] and pairs[0]["share"] == pytest.approx(0.35)


@pytest.mark.slow
def test_pretrained_head_raises_held_out_agreement_on_sign_digits(tmp_path):
    pytest.importorskip("torch", reason="torch not installed: the pretrained embedder is optional")
    from explorer.embedders import EmbedderUnavailable, get_embedder
    from explorer.io.sources import load_folder

    root = DATA / "sign-language-digits"
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root}")
    try:
        emb = get_embedder("efficientnet-lite0")
    except EmbedderUnavailable as exc:
        pytest.skip(f"efficientnet-lite0 unavailable: {exc}")
    for tag_dir in sorted(p for p in root.iterdir() if p.is_dir()):  # a stratified subset: 30 per tag
        (tmp_path / tag_dir.name).mkdir()
        for f in sorted(tag_dir.iterdir())[:30]:
            shutil.copy(f, tmp_path / tag_dir.name / f.name)
    s = load_folder(tmp_path)
    X = emb.embed(s.pixels)
    r = story.separation_report(None, X, None, tags=s.tags, train_contrastive=True, seed=0).to_json()
    held = r["held_out_knn_agreement"]
    print(held)
    assert held["after"] > held["before"], held


def test_transition_frames_run_from_before_to_after_and_escape_names():
    from explorer.story import figures as F

    before = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    after = before + 2.0
    tags = ["<b>x</b>", "y", "y"]
    fig = F.transition_animation(before, after, tags=tags, sources=["a", "b", "c"], steps=5)
    assert len(fig.frames) == 5
    first, last = fig.frames[0].data[0], fig.frames[-1].data[0]
    assert first.x[0] == 0.0 and last.x[0] == 2.0
    assert "<b>" not in fig.data[0].name and "&lt;b&gt;" in fig.data[0].name


def test_align_to_undoes_a_rotation_and_flip():
    from explorer.story import figures as F

    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 2))
    R = np.array([[0.0, -1.0], [-1.0, 0.0]])  # a reflection across y = -x
    np.testing.assert_allclose(F.align_to(A, A @ R * 3 + 5), A, atol=1e-9)


def test_per_tag_bars_put_the_worst_tag_on_top():
    from explorer.story import figures as F

    per_tag = {"fist": {"silhouette": 0.3, "knn_agreement": 0.9}, "ok": {"silhouette": -0.2, "knn_agreement": 0.1},
               "cup": {"silhouette": 0.05, "knn_agreement": 0.5}, "odd": {"silhouette": None, "knn_agreement": None}}
    fig = F.per_tag_bars(per_tag)
    axis = fig.layout.yaxis
    # a category axis draws its first category at the bottom; reversed, the first (worst) is on top
    assert list(axis.categoryarray) == ["ok", "cup", "fist", "odd"] and axis.autorange == "reversed"
    assert list(fig.data[0].y) == ["ok", "cup", "fist", "odd"]


def test_confusion_colour_scale_is_fixed_and_says_so():
    from explorer.story import figures as F

    fig = F.confusion_figure(np.array([[0.6, 0.4], [0.1, 0.9]]), ["a", "b"], order=[1, 0])
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax) == (0, 1) and "0–100%" in trace.colorbar.title.text
    assert list(trace.y) == ["b", "a"] and trace.z[0][0] == pytest.approx(0.9) and trace.text[0][1] == "10%"


def _font_sizes(node, path=""):
    """Every explicit font size in a figure's JSON, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "size" and path.rsplit(".", 1)[-1] in ("font", "tickfont", "textfont", "title_font"):
                yield path, value
            else:
                yield from _font_sizes(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _font_sizes(item, path)


def test_for_projector_sets_every_text_to_at_least_16_px():
    from explorer.story import figures as F

    before = np.random.default_rng(0).normal(size=(6, 2))
    figs = [F.transition_animation(before, before + 1, tags=list("aabbcc"), sources=list("uvwxyz")),
            F.per_tag_bars({"a": {"silhouette": 0.1, "knn_agreement": 0.5}}),
            F.confusion_figure(np.eye(2), ["a", "b"]), F.big_number_row({"k-NN": 0.5})]
    for fig in figs:
        spec = F.for_projector(fig).to_plotly_json()
        sizes = list(_font_sizes(spec))
        assert sizes and all(size >= 16 for _, size in sizes), [s for s in sizes if s[1] < 16]
        layout = spec["layout"]
        assert layout["font"]["size"] >= 16 and layout["xaxis"]["tickfont"]["size"] >= 16
        for menu in layout.get("updatemenus", []):  # the animation's play/before buttons
            assert menu["font"]["size"] >= 16
        for slider in layout.get("sliders", []):
            assert slider["font"]["size"] >= 16 and slider["currentvalue"]["font"]["size"] >= 16


def test_for_projector_leaves_cell_values_to_hover_once_they_outgrow_their_cells():
    from explorer.story import figures as F

    tags = [f"tag {i}" for i in range(8)]
    roomy = F.confusion_figure(np.eye(8), tags, width=900, font_size=18)
    tight = F.confusion_figure(np.eye(8), tags, width=560)  # built for 14 px text: "100%" fits, at 18 px not
    assert roomy.data[0].texttemplate and tight.data[0].texttemplate
    assert F.for_projector(roomy).data[0].texttemplate == "%{text}"
    assert F.for_projector(tight).data[0].texttemplate is None


def test_per_tag_bar_titles_break_onto_two_lines_so_they_never_meet():
    from explorer.story import figures as F

    fig = F.per_tag_bars({"a": {"silhouette": 0.1, "knn_agreement": 0.5}, "b": {"silhouette": -0.2}})
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == 2 and all("<br>" in t for t in titles)
    assert max(len(line) for t in titles for line in t.split("<br>")) <= 20  # each line under ~150 px at 14 px
    assert fig.layout.margin.t >= 60  # room for the two lines


def test_per_tag_bar_values_stand_beside_their_bars_where_they_keep_their_size():
    from explorer.story import figures as F

    fig = F.per_tag_bars({"a": {"silhouette": 0.1, "knn_agreement": 0.94}, "b": {"silhouette": -0.2,
                                                                                "knn_agreement": 0.1}})
    assert all(t.textposition == "outside" for t in fig.data)  # inside a short bar Plotly would shrink them
    assert fig.layout.xaxis2.range[1] >= 1.2  # room right of a bar at 0.94 for its "0.94"
