"""Issue 10: exports (map tables, Parquet, Projector bundles, standalone HTML) and other tools' data coming in."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explorer.io import export
from explorer.cli import main
from explorer.io.interop import given_projection, load_vectors, parse_projector
from explorer.io.store import load_embeddings

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def png(colour, size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    img = Image.new("RGB", size, colour)
    for x in range(0, size[0], 5):
        img.putpixel((x, x % size[1]), tuple(255 - c for c in colour))
    img.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """9 images in a manifest with a tag column, an extra 'shade' column and given x, y coordinates."""
    folder = tmp_path / "set"
    folder.mkdir()
    rng = np.random.default_rng(3)
    lines = ["file,label,shade,x,y"]
    for i in range(9):
        tag = ("red", "green", "blue")[i % 3]
        base = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}[tag]
        colour = tuple(int(np.clip(c + rng.integers(-25, 25), 0, 255)) for c in base)
        (folder / f"img{i}.png").write_bytes(png(colour))
        lines.append(f"img{i}.png,{tag},{'dark' if i < 5 else 'light'},{i * 1.5},{-i}")
    path = folder / "manifest.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rows_for(n: int = 6, d: int = 4, thumbs: bool = True) -> export.ExportRows:
    rng = np.random.default_rng(0)
    return export.ExportRows(
        ids=[f"id{i}" for i in range(n)], sources=[f"dir/img {i}.png" for i in range(n)],
        columns={"tag": ["a" if i % 2 else "b" for i in range(n)], "kind": [f"k{i % 3}" for i in range(n)]},
        vectors=rng.normal(size=(n, d)).astype(np.float32),
        thumbnails=[png((40 * i % 255, 90, 160)) for i in range(n)] if thumbs else None, embedder_name="pixels")


# ----------------------------------------------------------------------------------------- round trips

def test_projector_bundle_round_trips_through_info_and_map(capsys, tmp_path, manifest):
    npz = tmp_path / "vectors.npz"
    assert run(capsys, "embed", manifest, "--embedder", "pixels", "--out", npz)[0] == 0
    reference = load_embeddings(npz)
    bundle = tmp_path / "bundle"
    code, _, err = run(capsys, "export", manifest, "--embedder", "pixels", "--format", "projector", "--out", bundle)
    assert code == 0, err
    assert sorted(p.name for p in bundle.iterdir()) == ["metadata.tsv", "projector_config.json", "sprite.png",
                                                         "tensors.tsv"]
    # tensors.tsv: no header, one tab-separated row of floats per image
    first = (bundle / "tensors.tsv").read_text().splitlines()[0].split("\t")
    assert len(first) == reference.vectors.shape[1] and all(float(c) == float(c) for c in first)
    meta = (bundle / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert meta[0].split("\t") == ["id", "source", "tag", "shade", "x", "y"]
    assert len(meta) == 1 + len(reference.ids)

    for source in (bundle, bundle / "tensors.tsv"):
        code, out, err = run(capsys, "info", source, "--json")
        assert code == 0, err
        assert json.loads(out) == {"images": 9, "tags": {"red": 3, "green": 3, "blue": 3}, "skipped": []}
    back = load_vectors(bundle)
    assert back.ids == reference.ids and back.tags == reference.tags and back.sources == reference.sources
    assert back.extra_tags["shade"] == reference.extra_tags["shade"]
    np.testing.assert_allclose(back.vectors, reference.vectors, rtol=1e-6, atol=1e-7)

    out_csv = tmp_path / "map.csv"
    code, _, err = run(capsys, "map", bundle, "--method", "pca", "--out", out_csv)
    assert code == 0, err
    table = pd.read_csv(out_csv, dtype={"id": str})
    assert table["id"].tolist() == reference.ids and table["tag"].tolist() == reference.tags


def test_projector_config_and_sprite_follow_the_projector_layout(tmp_path):
    rows = rows_for(n=5)
    written = export.write_projector(tmp_path / "b", rows)
    config = json.loads(written["projector_config.json"].read_text())
    (emb,) = config["embeddings"]
    assert emb["tensorPath"] == "tensors.tsv" and emb["metadataPath"] == "metadata.tsv"
    assert emb["tensorShape"] == [5, 4]
    cell = emb["sprite"]["singleImageDim"]
    assert emb["sprite"]["imagePath"] == "sprite.png" and cell[0] == cell[1]
    with Image.open(written["sprite.png"]) as sprite:
        assert sprite.size == (3 * cell[0], 3 * cell[1])  # 5 images -> a 3 x 3 grid
        # row order: image 1 sits in row 0, column 1; its centre is the thumbnail's colour, not the white fill
        centre = sprite.convert("RGB").getpixel((cell[0] + cell[0] // 2, cell[1] // 2))
        assert centre != (255, 255, 255)
        assert sprite.convert("RGB").getpixel((2 * cell[0] + cell[0] // 2, 2 * cell[1] // 2 + cell[1])) == (255, 255, 255)


def test_sprite_never_exceeds_the_size_limit_and_shrinks_images():
    thumbs = [png((i, 100, 200), size=(96, 64)) for i in range(30)]
    data, cell = export.sprite_png(thumbs, max_side=200)
    with Image.open(io.BytesIO(data)) as sprite:
        assert max(sprite.size) <= 200
        assert sprite.size == (6 * cell, 6 * cell) and cell == 200 // 6


def test_parquet_export_matches_the_embed_npz(capsys, tmp_path, manifest):
    npz = tmp_path / "vectors.npz"
    assert run(capsys, "embed", manifest, "--embedder", "color-histogram", "--out", npz)[0] == 0
    out = tmp_path / "vectors.parquet"
    code, _, err = run(capsys, "export", manifest, "--embedder", "color-histogram", "--format", "parquet", "--out", out)
    assert code == 0, err
    reference = load_embeddings(npz)
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["id", "source", "tag", "shade", "x", "y", "vector"]
    assert frame["id"].tolist() == reference.ids and frame["source"].tolist() == reference.sources
    assert frame["tag"].tolist() == reference.tags and frame["shade"].tolist() == reference.extra_tags["shade"]
    import pyarrow.parquet as pq

    assert str(pq.read_schema(out).field("vector").type) == "list<element: float>"
    np.testing.assert_array_equal(np.stack(frame["vector"].to_numpy()).astype(np.float32), reference.vectors)
    # and the Parquet is itself a source
    code, out_json, _ = run(capsys, "info", out, "--json")
    assert code == 0 and json.loads(out_json)["images"] == 9


def test_map_out_parquet_has_the_csv_columns_plus_extra_tags(capsys, tmp_path, manifest):
    out = tmp_path / "map.parquet"
    code, _, err = run(capsys, "map", manifest, "--method", "pca", "--dims", "3", "--out", out)
    assert code == 0, err
    frame = pd.read_parquet(out)
    # the manifest's own x, y become tag_x, tag_y: the projection's columns keep their names
    assert list(frame.columns) == ["id", "source", "tag", "x", "y", "z", "neighbours_kept", "shade", "tag_x", "tag_y"]
    assert frame["x"].dtype == np.float64 and frame["neighbours_kept"].between(0, 1).all()
    assert frame["tag_x"].tolist() == [str(i * 1.5) for i in range(9)]
    csv_out = tmp_path / "map.csv"
    assert run(capsys, "map", manifest, "--method", "pca", "--out", csv_out)[0] == 0
    assert csv_out.read_text().splitlines()[0] == "id,source,tag,x,y,neighbours_kept"  # the CSV contract is unchanged


def test_map_method_given_draws_the_manifest_coordinates(capsys, tmp_path, manifest):
    out = tmp_path / "given.csv"
    code, _, err = run(capsys, "map", manifest, "--method", "given", "--out", out)
    assert code == 0, err
    table = pd.read_csv(out)
    np.testing.assert_allclose(table["x"], [i * 1.5 for i in range(9)])
    np.testing.assert_allclose(table["y"], [-i for i in range(9)])
    assert table["neighbours_kept"].notna().all()  # images were embedded, so faithfulness is measured


def test_map_method_given_without_images(capsys, tmp_path):
    table = tmp_path / "points.csv"
    table.write_text("id,tag,x,y,z\na,cat,0,0,1\nb,cat,1,0,2\nc,dog,5,5,\n", encoding="utf-8")
    out = tmp_path / "points.parquet"
    code, _, err = run(capsys, "map", table, "--method", "given", "--out", out)
    assert code == 0, err
    frame = pd.read_parquet(out)
    assert frame["id"].tolist() == ["a", "b", "c"] and frame["tag"].tolist() == ["cat", "cat", "dog"]
    assert frame["x"].tolist() == [0, 1, 5] and frame["neighbours_kept"].isna().all()
    # a Parquet table works too, and 3D needs the z it carries (c has none: left off, reported)
    code, _, err = run(capsys, "map", out, "--method", "given", "--out", tmp_path / "again.csv")
    assert code == 0, err
    code, _, err = run(capsys, "map", table, "--method", "given", "--dims", "3", "--out", tmp_path / "3d.csv")
    assert code == 0 and "excluded c: no coordinates given" in err
    assert pd.read_csv(tmp_path / "3d.csv")["z"].tolist()[:2] == [1, 2]


def test_map_method_given_errors_name_the_row(capsys, tmp_path):
    table = tmp_path / "points.csv"
    table.write_text("id,tag,x,y\na,cat,0,0\nb,cat,oops,0\n", encoding="utf-8")
    code, _, err = run(capsys, "map", table, "--method", "given")
    assert code == 1 and err.count("\n") == 1
    assert "row 2" in err and "'x'" in err and "'oops' is not a number" in err
    no_xy = tmp_path / "noxy.csv"
    no_xy.write_text("id,tag\na,cat\nb,dog\nc,dog\n", encoding="utf-8")
    code, _, err = run(capsys, "map", no_xy, "--method", "given")
    assert code == 1 and "no numeric x and y columns" in err


def test_given_projection_reports_rows_without_coordinates():
    proj = given_projection({"x": ["1", "", "3"], "y": ["1", "2", "3"]})
    assert proj.method == "given" and proj.excluded == {1: "no coordinates given"}
    assert np.isnan(proj.coords[1]).all() and proj.coords[2].tolist() == [3.0, 3.0]


# ----------------------------------------------------------------------------------------- malformed bundles

def bundle(tmp_path: Path, tensors: str, metadata: str | None = None) -> Path:
    folder = tmp_path / "b"
    folder.mkdir(exist_ok=True)
    (folder / "tensors.tsv").write_text(tensors, encoding="utf-8")
    if metadata is not None:
        (folder / "metadata.tsv").write_text(metadata, encoding="utf-8")
    return folder


@pytest.mark.parametrize("tensors, metadata, expected", [
    ("1\t2\n3\t4\t5\n1\t1\n", None, "tensors.tsv line 2: 3 values, but line 1 has 2 (ragged rows)"),
    ("1\t2\n3\tx7\n1\t1\n", None, "tensors.tsv line 2, column 2: 'x7' is not a number"),
    ("1\t2\n3\t4\n1\t1\n", "id\ttag\na\tx\nb\ty\n", "metadata.tsv line 4: 2 rows of metadata but tensors.tsv has 3 rows"),
    ("1\t2\n3\t4\n", "id\ttag\na\tx\nb\ty\nc\tz\n", "metadata.tsv line 4: 3 rows of metadata but tensors.tsv has 2 rows"),
    ("1\t2\n3\t4\n", "id\ttag\na\tx\tEXTRA\nb\ty\n", "metadata.tsv line 2: 3 columns, but the header has 2"),
    ("", None, "tensors.tsv: empty file"),
    ("1\t2\n3\tnan\n", None, "tensors.tsv line 2: holds an infinite or NaN value"),
])
def test_malformed_bundles_give_one_line_naming_file_and_line(capsys, tmp_path, tensors, metadata, expected):
    folder = bundle(tmp_path, tensors, metadata)
    code, out, err = run(capsys, "info", folder)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and expected in err, err
    assert str(folder) in err


def test_missing_bundle_files_are_named(capsys, tmp_path):
    code, _, err = run(capsys, "info", tmp_path / "nowhere" / "tensors.tsv")
    assert code == 1 and err.count("\n") == 1 and "tensors.tsv: no such file" in err


def test_single_column_metadata_without_header_is_the_tags(tmp_path):
    folder = bundle(tmp_path, "1\t0\n0\t1\n1\t1\n", "cat\ndog\ncat\n")
    data = load_vectors(folder)
    assert data.tags == ["cat", "dog", "cat"] and data.ids == ["0", "1", "2"] and not data.extra_tags
    # a label column without id/source becomes the tag; every metadata column stays a tag column
    data = parse_projector("1\t0\n0\t1\n", "label\tcolour\nfist\tred\npalm\tblue\n")
    assert data.tags == ["fist", "palm"] and data.extra_tags == {"label": ["fist", "palm"], "colour": ["red", "blue"]}


def test_zipped_bundle_from_the_app_is_a_source(capsys, tmp_path):
    rows = rows_for(n=5, thumbs=False)
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(export.zip_bytes(export.projector_files(rows)))
    code, out, err = run(capsys, "info", archive, "--json")
    assert code == 0, err
    assert json.loads(out)["tags"] == {"b": 3, "a": 2}
    np.testing.assert_allclose(load_vectors(archive).vectors, rows.vectors, rtol=1e-6)


def test_parquet_with_ragged_vectors_or_neither_vectors_nor_images_is_refused(capsys, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ragged = tmp_path / "ragged.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "vector": [[1.0, 2.0], [1.0]]}), ragged)
    code, _, err = run(capsys, "info", ragged)
    assert code == 1 and "row 2: 'vector' has 1 values, but row 1 has 2" in err and err.count("\n") == 1
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"id": ["a"]}), plain)
    code, _, err = run(capsys, "info", plain)  # without vectors a Parquet is a manifest: it needs images and tags
    assert code == 1 and err.count("\n") == 1 and "plain.parquet: the manifest has no tag column" in err


# ----------------------------------------------------------------------------------------- byte producers

def test_download_bytes_are_parseable():
    rows = rows_for(n=6)
    coords = np.arange(12, dtype=np.float32).reshape(6, 2)
    frame = export.map_frame(rows, coords, np.linspace(0, 1, 6))
    table = pd.read_csv(io.BytesIO(export.map_table_bytes(frame, "csv")))
    assert list(table.columns) == ["id", "source", "tag", "x", "y", "neighbours_kept", "kind"]
    assert table["x"].tolist() == coords[:, 0].tolist()
    back = pd.read_parquet(io.BytesIO(export.map_table_bytes(frame, "parquet")))
    assert back["kind"].tolist() == rows.columns["kind"]
    with np.load(io.BytesIO(export.npz_bytes(rows))) as npz:
        assert npz["ids"].tolist() == rows.ids and np.array_equal(npz["vectors"], rows.vectors)
        assert npz["tag__kind"].tolist() == rows.columns["kind"]
    with zipfile.ZipFile(io.BytesIO(export.zip_bytes(export.projector_files(rows)))) as archive:
        assert sorted(archive.namelist()) == ["metadata.tsv", "projector_config.json", "sprite.png", "tensors.tsv"]
    selection = pd.read_csv(io.BytesIO(export.selection_csv(rows, [4, 1])))
    assert selection["id"].tolist() == ["id4", "id1"] and selection["source"].tolist() == ["dir/img 4.png", "dir/img 1.png"]
    assert selection["tag"].tolist() == ["b", "a"]
    with zipfile.ZipFile(io.BytesIO(export.selection_images_zip(rows, [4, 1]))) as archive:
        assert sorted(archive.namelist()) == ["a/img 1.jpg", "b/img 4.jpg"]
        assert archive.read("b/img 4.jpg") == rows.thumbnails[4]


def test_csv_cells_cannot_start_formulas():
    rows = export.ExportRows(ids=["=1+1", "-3"], sources=["@SUM(A1)", "ok.png"], columns={"tag": ["+x", "-0.5"]})
    table = pd.read_csv(io.BytesIO(export.selection_csv(rows, [0, 1])), dtype=str)
    assert table["id"].tolist() == ["'=1+1", "-3"]
    assert table["source"].tolist() == ["'@SUM(A1)", "ok.png"] and table["tag"].tolist() == ["'+x", "-0.5"]


def test_every_csv_and_tsv_export_is_inert_whatever_the_column_dtype():
    """Issue 20: the map CSV wrote =HYPERLINK(...) raw — pandas 3 gives text columns the ``str`` dtype and the
    guard only looked at ``object``; metadata.tsv of the Projector bundle had no guard at all."""
    rows = export.ExportRows(ids=["=HYPERLINK(\"http://x\")", "b"], sources=["+cmd|' /C calc'!A0", "ok\u202e.png"],
                             columns={"tag": ["@x", "-0.5"], "\u202enote": ["\x1b[31mred", "=1"]},
                             vectors=np.eye(2, dtype=np.float32))
    frame = export.map_frame(rows, np.zeros((2, 2)))
    frame["id"] = frame["id"].astype("str")  # what pandas 3 reads text as
    frame["tag"] = frame["tag"].astype("string")
    frame["\u202enote"] = frame["\u202enote"].astype("category")
    text = export.map_table_bytes(frame, "csv").decode("utf-8")
    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert table["id"].tolist() == ["'=HYPERLINK(\"http://x\")", "b"]
    assert table["source"].tolist() == ["'+cmd|' /C calc'!A0", "ok\ufffd.png"]
    assert table["tag"].tolist() == ["'@x", "-0.5"] and table["x"].tolist() == ["0", "0"]
    assert "\ufffdnote" in table.columns and table["\ufffdnote"].tolist() == ["\ufffd[31mred", "'=1"]
    assert "\u202e" not in text and "\x1b" not in text
    meta = export.metadata_tsv(rows).decode("utf-8").splitlines()
    assert meta[0] == "id\tsource\ttag\t\ufffdnote"
    assert meta[1].split("\t") == ["'=HYPERLINK(\"http://x\")", "'+cmd|' /C calc'!A0", "'@x", "\ufffd[31mred"]


def test_html_map_scripts_run_by_hash_not_unsafe_inline():
    import base64
    import hashlib
    import re

    page = export.html_map(rows_for(n=4), np.random.default_rng(0).normal(size=(4, 2)))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "unsafe-inline' 'unsafe" not in csp and "'unsafe-eval'" not in csp
    assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) >= 3  # plotly.js, the figure, the click panel
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    big = rows_for(n=1500, thumbs=False)  # above figures.WEBGL_THRESHOLD: regl needs Function()
    assert "'unsafe-eval'" in export.html_map(big, np.random.default_rng(0).normal(size=(1500, 2)))


def test_html_map_is_self_contained_and_escapes_user_text():
    rows = rows_for(n=4)
    rows.sources[0] = "</script><script>alert(1)</script>.png"
    page = export.html_map(rows, np.random.default_rng(0).normal(size=(4, 2)))
    import plotly.offline

    plotly_js = plotly.offline.get_plotlyjs()
    assert plotly_js[:2000] in page  # plotly.js is inlined from the installed package ...
    shell = page.replace(export._script_safe(plotly_js), "")
    assert "<script src" not in shell and "http" not in shell.replace("http-equiv", "")  # ... and nothing is linked
    assert "</script><script>alert(1)" not in page
    assert page.count("data:image/jpeg;base64,") == 4
    assert "default-src 'none'" in page  # the browser itself refuses any request the page might try


# ----------------------------------------------------------------------------------------- browser

@pytest.mark.browser
def test_exported_html_opens_offline_from_disk_and_shows_the_clicked_image(capsys, tmp_path, manifest):
    from browser_helpers import CHROMIUM, CHROMIUM_ARGS, browser_missing_reason

    reason = browser_missing_reason()
    if reason:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    out = tmp_path / "map.html"
    code, _, err = run(capsys, "export", manifest, "--format", "html", "--method", "pca", "--out", out)
    assert code == 0, err
    requests, outside = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900}, offline=True)

            def guard(route):
                url = route.request.url
                requests.append(url)
                if url.startswith(("file:", "data:", "blob:")):
                    route.continue_()
                else:
                    outside.append(url)
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else outside.append(r.url))
            violations = []
            page.on("console", lambda m: violations.append(m.text) if m.text.startswith("CSP ") else None)
            page.add_init_script("document.addEventListener('securitypolicyviolation', "
                                 "e => console.log('CSP ' + e.violatedDirective))")
            page.goto(out.as_uri())
            points = page.locator(".js-plotly-plot .scatterlayer .point")
            points.first.wait_for(timeout=30_000)
            assert points.count() == 9
            box = points.nth(4).bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.wait_for_timeout(300)
            hover = page.locator(".hoverlayer").text_content()
            page.mouse.click(x, y)
            shown = page.locator("#shown")
            shown.wait_for(state="visible", timeout=10_000)
            caption = page.locator("#caption").inner_text()
            natural = page.evaluate("document.getElementById('shown').naturalWidth")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "export-html-click.png"))
        finally:
            browser.close()
    clicked = caption.split(" \u2014 ")[0]
    assert clicked.startswith("img") and clicked.endswith(".png") and clicked in hover
    assert caption.split(" \u2014 ")[1] in ("red", "green", "blue")
    assert natural > 0  # the embedded thumbnail decoded
    assert outside == []
    assert violations == []  # every script ran by its hash, none needed eval (issue 20)


# ----------------------------------------------------------------------------------------- colour by any column

def test_numeric_tag_columns_get_a_continuous_scale_and_digits_stay_categories():
    from explorer.figures import map_figure, numeric_column

    coords = np.arange(40, dtype=float).reshape(20, 2)
    ages = [str(1.5 * i) for i in range(19)] + [""]
    fig = map_figure(coords, tags=ages, sources=[f"s{i}" for i in range(20)], tag_name="age")
    main_trace = fig.data[0]
    assert main_trace.marker.colorscale is not None and main_trace.marker.colorbar.title.text == "age"
    assert (main_trace.marker.cmin, main_trace.marker.cmax) == (0.0, 27.0)
    assert len(main_trace.x) == 19 and fig.data[1].name == "no value" and list(fig.data[1].customdata) == [19]
    assert numeric_column([str(i % 10) for i in range(50)]) is None  # digit labels are categories
    assert numeric_column(["1.0", "cat"]) is None
    digits = map_figure(coords, tags=[str(i % 10) for i in range(20)], sources=["s"] * 20)
    assert len(digits.data) == 10  # one legend entry per digit


# ----------------------------------------------------------------------------------------- the app

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _app(monkeypatch, root: Path | None = None, **state):
    from streamlit.testing.v1 import AppTest

    from ui import paths

    if root is None:
        monkeypatch.delenv(paths.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(paths.ENV_VAR, str(root))
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in state.items():  # widget values before the first run: no detour through the demo
        at.session_state[key] = value
    at.run()
    return at


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def test_export_page_offers_every_download_and_the_selection(monkeypatch):
    from ui import state

    at = _app(monkeypatch, map_method="pca", map_dims=3)
    at.switch_page("ui/pages/export.py").run()
    # the export page starts from the map the Map page drew last
    assert at.selectbox(key="export_method").value == "pca" and at.radio(key="export_dims").value == 3
    assert not at.exception, [e.value for e in at.exception]
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Map (CSV)", "Map (Parquet)", "Standalone HTML map", "Embeddings (.npz)",
                      "Embeddings (Parquet)", "Projector bundle (ZIP)"]
    assert "Nothing selected" in _texts(at)
    at.session_state[state.SELECTED_KEY] = [3, 40, 41]
    at.run()
    labels = [b.label for b in at.get("download_button")]
    assert labels[-2:] == ["Selection (CSV)", "Selected images (ZIP)"] and "3 images selected" in _texts(at)
    options = at.selectbox(key="export_method").options
    assert "PCA (instant, linear)" in options and not any("as given" in o for o in options)  # demo: no coordinates


def test_bundle_and_parquet_on_the_server_load_in_the_app(monkeypatch, tmp_path):
    rows = rows_for(n=12, d=6)
    root = tmp_path / "root"
    root.mkdir()
    export.write_projector(root / "bundle", rows)
    export.write_embeddings_parquet(root / "vectors.parquet", rows)
    at = _app(monkeypatch, root, fse_kind="npz", map_method="pca")
    picker = at.selectbox(key="fse_npz_pick")
    assert "bundle" in picker.options and "vectors.parquet" in picker.options
    for choice in ("bundle", "vectors.parquet"):
        at.selectbox(key="fse_npz_pick").set_value(choice).run()
        assert not at.exception, [e.value for e in at.exception]
        assert "**12 images**" in _texts(at)
    assert at.selectbox(key="fse_tag_column").options == ["tag", "kind"]
    from ui import state

    at.session_state[state.SELECTED_KEY] = [0, 5]
    at.session_state["export_method"] = "pca"
    at.switch_page("ui/pages/export.py").run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [b.label for b in at.get("download_button")]
    assert "Selection (CSV)" in labels and "Selected images (ZIP)" not in labels  # vectors only: no pictures
    assert "sprite.png" not in _texts(at)
    at.switch_page("ui/pages/map.py").run()
    # the same bundle picked as a "folder on this server" loads as vectors, not as an image folder
    at.radio(key="fse_kind").set_value("server").run()
    at.selectbox(key="fse_server_pick").set_value("bundle").run()
    assert not at.exception and "**12 images**" in _texts(at)


def test_map_page_draws_a_manifest_as_given(monkeypatch, manifest):
    at = _app(monkeypatch, manifest.parent, fse_kind="server", fse_server_pick="manifest.csv", map_method="pca")
    methods = at.selectbox(key="map_method")
    assert methods.options[-1] == "as given"
    methods.set_value("given").run()
    assert not at.exception, [e.value for e in at.exception]
    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    xs = sorted(float(x) for trace in spec["data"] for x in _array(trace.get("x")))
    assert xs == [i * 1.5 for i in range(9)]


def _array(value) -> list:
    """A Plotly JSON array: a plain list, or plotly 6's ``{"dtype", "bdata"}`` base64 typed array."""
    import base64

    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).tolist()
    return list(value or [])


@pytest.mark.browser
def test_export_page_downloads_in_a_real_browser(tmp_path):
    from browser_helpers import app_server, browser_missing_reason, offline_page

    reason = browser_missing_reason()
    if reason:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    got: dict[str, bytes] = {}
    with app_server(tmp_path) as (url, _), sync_playwright() as p, offline_page(p) as (page, blocked):
        page.goto(url + "/export?source=demo:hands&embedder=hog")
        page.get_by_text("Projector bundle (ZIP)").first.wait_for(timeout=180_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "export-page.png"), full_page=True)
        for label in ("Map (CSV)", "Map (Parquet)", "Standalone HTML map", "Embeddings (.npz)", "Embeddings (Parquet)",
                      "Projector bundle (ZIP)"):
            with page.expect_download(timeout=120_000) as info:
                page.get_by_role("button", name=label).click()
            got[label] = Path(info.value.path()).read_bytes()
            got[label + " name"] = info.value.suggested_filename.encode()
        assert blocked == []
    table = pd.read_csv(io.BytesIO(got["Map (CSV)"]))
    assert len(table) == 448 and list(table.columns)[:5] == ["id", "source", "tag", "x", "y"]
    assert table["x"].notna().all() and "kind" in table.columns
    assert pd.read_parquet(io.BytesIO(got["Map (Parquet)"]))["id"].tolist() == table["id"].tolist()
    with np.load(io.BytesIO(got["Embeddings (.npz)"])) as npz:
        assert npz["vectors"].shape[0] == 448 and str(npz["embedder"]) == "hog"
        npz_dims = npz["vectors"].shape[1]
    with zipfile.ZipFile(io.BytesIO(got["Projector bundle (ZIP)"])) as archive:
        assert sorted(archive.namelist()) == ["metadata.tsv", "projector_config.json", "sprite.png", "tensors.tsv"]
    assert got["Map (CSV) name"].decode().endswith("-map.csv")
    vectors = pd.read_parquet(io.BytesIO(got["Embeddings (Parquet)"]))
    assert vectors["id"].tolist() == table["id"].tolist() and len(vectors["vector"][0]) == npz_dims
    page_html = got["Standalone HTML map"].decode("utf-8")
    assert page_html.startswith("<!DOCTYPE html>") and page_html.count("data:image/jpeg;base64,") == 448


def test_parquet_manifest_with_images_is_embedded_and_drawn_as_given(capsys, tmp_path, manifest):
    table = pd.read_csv(manifest, dtype=str)
    parquet = manifest.with_suffix(".parquet")
    table.to_parquet(parquet, index=False)
    code, out, err = run(capsys, "info", parquet, "--json")
    assert code == 0, err
    assert json.loads(out)["tags"] == {"red": 3, "green": 3, "blue": 3}
    out_csv = tmp_path / "given.csv"
    code, _, err = run(capsys, "map", parquet, "--method", "given", "--out", out_csv)
    assert code == 0, err
    drawn = pd.read_csv(out_csv)
    assert drawn["x"].tolist() == [i * 1.5 for i in range(9)] and drawn["neighbours_kept"].notna().all()


def test_bundles_named_by_their_config_or_as_any_numeric_tsv(capsys, tmp_path):
    folder = tmp_path / "tf"
    folder.mkdir()
    (folder / "vecs.tsv").write_text("1\t0\n0\t1\n1\t1\n", encoding="utf-8")
    (folder / "labels.tsv").write_text("cat\ndog\ncat\n", encoding="utf-8")
    (folder / "projector_config.json").write_text(json.dumps(
        {"embeddings": [{"tensorName": "t", "tensorPath": "vecs.tsv", "metadataPath": "labels.tsv"}]}))
    for source in (folder, folder / "projector_config.json"):
        code, out, err = run(capsys, "info", source, "--json")
        assert code == 0, err
        assert json.loads(out)["tags"] == {"cat": 2, "dog": 1}
    code, out, _ = run(capsys, "info", folder / "vecs.tsv", "--json")  # no metadata.tsv beside it: untagged
    assert code == 0 and json.loads(out)["tags"] == {"untagged": 3}
    (folder / "projector_config.json").write_text(json.dumps({"embeddings": [{"tensorPath": "../../etc/passwd"}]}))
    code, _, err = run(capsys, "info", folder)
    assert code == 1 and "tensorPath '../../etc/passwd' must name a file beside the config" in err


def test_a_bundles_sprite_brings_its_pictures_back(capsys, tmp_path, manifest):
    bundle_dir = tmp_path / "bundle"
    assert run(capsys, "export", manifest, "--format", "projector", "--out", bundle_dir)[0] == 0
    from explorer.io.interop import bundle_thumbnails

    thumbs = bundle_thumbnails(bundle_dir, 9)
    assert len(thumbs) == 9
    with Image.open(io.BytesIO(thumbs[0])) as first:  # img0 is a red picture: the crop is that image's cell
        r, g, b = first.convert("RGB").getpixel((first.width // 2, first.height // 2))
        assert r > 150 and g < 90 and b < 90
    page = tmp_path / "from-bundle.html"
    code, _, err = run(capsys, "export", bundle_dir, "--format", "html", "--method", "pca", "--out", page)
    assert code == 0, err
    assert page.read_text(encoding="utf-8").count("data:image/jpeg;base64,") == 9


def test_a_small_tensors_file_cannot_ask_for_a_huge_matrix():
    """A 10 MB upload whose first row has 4,096 values and then five million one-value rows used to
    allocate 76 GiB before finding the ragged second row (a MemoryError box); now it is that row's error."""
    text = "\t".join(["0"] * 4096) + "\n" + "0\n" * 5_000_000
    with pytest.raises(ValueError, match=r"tensors.tsv line 2: 1 values, but line 1 has 4096 \(ragged rows\)"):
        parse_projector(text, None)
