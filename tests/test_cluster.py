"""The Dask path: `embed --workers/--scheduler` equals the single-process embed, resumes, and `map --fit-sample`
places points next to their fitted neighbours. One LocalCluster of 2 worker processes serves the session."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from explorer import cli  # noqa: E402
from explorer.cluster.embed import embed_to_folder  # noqa: E402
from explorer.cluster.placement import fit_placer, map_folder, stratified_sample  # noqa: E402
from explorer.cluster.shards import PART_PATTERN, ClusterError, open_sharded, read_thumbnail  # noqa: E402
from explorer.io.sources import load_source  # noqa: E402
from explorer.io.store import load_embeddings  # noqa: E402
from map_helpers import map_specs  # noqa: E402

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="session")
def cluster():
    from distributed import LocalCluster

    # dashboard off; its HTTP routes on a free port, not 8787 (other clusters may run on this machine)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      scheduler_kwargs={"dashboard": False}, memory_limit="1GiB") as local:
        yield local


@pytest.fixture(scope="session")
def client(cluster):
    from distributed import Client

    with Client(cluster) as c:
        yield c


def copy_subset(src: Path, dest: Path, tags: list[str], per_tag: int) -> Path:
    for tag in tags:
        (dest / tag).mkdir(parents=True, exist_ok=True)
        for f in sorted((src / tag).iterdir())[:per_tag]:
            shutil.copyfile(f, dest / tag / f.name)
    return dest


@pytest.fixture(scope="module")
def photos(shared_data, tmp_path_factory) -> Path:
    """12 real photos in each of 3 tags, a picture repeated in two tags (so in two partitions), a truncated
    JPEG and a text file."""
    root = copy_subset(shared_data / "grocery-subset", tmp_path_factory.mktemp("photos"), ["Apple", "Banana", "Kiwi"], 12)
    first = sorted((root / "Apple").iterdir())[0]
    shutil.copyfile(first, root / "Kiwi" / "zz-same-as-an-apple.jpg")
    data = sorted((root / "Banana").iterdir())[0].read_bytes()
    (root / "Banana" / "broken.jpg").write_bytes(data[: len(data) // 3])
    (root / "readme.txt").write_text("not a picture")
    return root


@pytest.fixture(scope="module")
def single(photos, tmp_path_factory, monkeypatch_module):
    out = tmp_path_factory.mktemp("single") / "set.npz"
    assert cli.main(["embed", str(photos), "--embedder", "hog", "--out", str(out), "--no-cache"]) == 0
    return load_embeddings(out)


@pytest.fixture(scope="module")
def monkeypatch_module(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("EXPLORER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def sharded(photos, cluster, tmp_path_factory, monkeypatch_module) -> Path:
    out = tmp_path_factory.mktemp("sharded") / "set"
    code = cli.main(["embed", str(photos), "--embedder", "hog", "--out", str(out), "--partition-size", "8",
                     "--scheduler", cluster.scheduler_address])
    assert code == 0
    return out


def test_cluster_embed_equals_single_process_embed(single, sharded, photos, capsys):
    shard = open_sharded(sharded)
    assert len(shard.parts) == 5  # 38 image files + readme in walk order, 8 per partition
    assert shard.data.ids == single.ids
    assert sum("~" in i for i in shard.data.ids) == 1  # the repeated picture, in another partition
    assert shard.data.sources == single.sources and shard.data.tags == single.tags
    assert shard.data.vectors.shape == single.vectors.shape
    np.testing.assert_allclose(shard.data.vectors, single.vectors, rtol=1e-5, atol=1e-6)
    expected = load_source(str(photos)).skipped
    assert [(s.file, s.reason) for s in shard.skipped] == [(s.file, s.reason) for s in expected]
    assert {s.file for s in shard.skipped} == {"Banana/broken.jpg", "readme.txt"}
    with open(sharded / "_skipped.csv", newline="", encoding="utf-8") as fh:
        assert [r["file"] for r in csv.DictReader(fh)] == [s.file for s in expected]
    assert shard.meta["embedder"] == "hog" and shard.meta["images"] == len(single.ids)
    assert shard.meta["skipped"] == 2 and shard.meta["complete"] is True


def test_thumbnails_are_read_per_point_from_the_shards(sharded, photos):
    shard = open_sharded(sharded, vectors=False)
    images = load_source(str(photos))
    for row in (0, 17, len(images) - 1):
        assert read_thumbnail(shard, row) == images.thumbnails[row]


def test_cli_reads_a_sharded_folder_like_an_npz(sharded, capsys):
    assert cli.main(["info", str(sharded), "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["tags"] == {"Apple": 12, "Banana": 12, "Kiwi": 13}
    assert sorted(s["file"] for s in info["skipped"]) == ["Banana/broken.jpg", "readme.txt"]


def test_interrupted_run_recomputes_only_missing_partitions(photos, client, tmp_path, monkeypatch_module):
    out = tmp_path / "run"
    first = embed_to_folder(str(photos), out, "color-histogram", client=client, partition_size=8)
    assert first.recomputed == first.partitions == 5
    before = {i: (out / PART_PATTERN.format(i)).stat().st_mtime_ns for i in range(5)}
    reference = open_sharded(out).data
    (out / PART_PATTERN.format(1)).unlink()  # a run killed before partition 1 was written
    (out / PART_PATTERN.format(3)).write_bytes(b"PAR1 half a file")  # or killed while writing it
    messages = []
    again = embed_to_folder(str(photos), out, "color-histogram", client=client, partition_size=8,
                            progress=lambda done, total, message: messages.append(message))
    assert again.recomputed == 2
    assert "3 partitions already written" in messages[0]
    after = {i: (out / PART_PATTERN.format(i)).stat().st_mtime_ns for i in range(5)}
    assert [i for i in range(5) if after[i] != before[i]] == [1, 3]
    resumed = open_sharded(out).data
    assert resumed.ids == reference.ids
    np.testing.assert_array_equal(resumed.vectors, reference.vectors)
    assert not list(out.glob(".tmp-*"))
    with pytest.raises(ClusterError, match="another run"):
        embed_to_folder(str(photos), out, "color-histogram", client=client, partition_size=5)


def test_stratified_sample_keeps_tag_shares():
    tags = ["a"] * 700 + ["b"] * 290 + ["c"] * 10
    rows = stratified_sample(tags, 100, seed=3)
    picked = [tags[i] for i in rows]
    assert len(rows) == len(set(rows)) == 100
    assert (picked.count("a"), picked.count("b"), picked.count("c")) == (70, 29, 1)
    assert np.array_equal(rows, stratified_sample(tags, 100, seed=3))
    assert not np.array_equal(rows, stratified_sample(tags, 100, seed=4))
    assert set(tags[i] for i in stratified_sample(tags, 3, seed=0)) == {"a", "b", "c"}


def _same_tag_share(coords, tags, ref, query, k=10):
    """Mean share of the k nearest ``ref`` rows on the map (itself excluded) that carry the query row's tag."""
    tags = np.asarray(tags)
    shares = []
    for i in query:
        d = np.linalg.norm(coords[ref] - coords[i], axis=1)
        d[ref == i] = np.inf
        shares.append(np.mean(tags[ref[np.argsort(d)[:k]]] == tags[i]))
    return float(np.mean(shares))


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_placed_points_land_next_to_their_fitted_neighbours(shared_data, client, tmp_path_factory, method,
                                                            monkeypatch_module):
    folder = tmp_path_factory.getbasetemp() / "placed-set"
    if not folder.exists():
        photos = copy_subset(shared_data / "grocery-subset", tmp_path_factory.mktemp("grocery"),
                             ["Apple", "Banana", "Carrots", "Milk", "Tomato"], 80)
        embed_to_folder(str(photos), folder, "color-histogram", client=client, partition_size=100)
    summary = map_folder(folder, method=method, fit_sample=150, seed=0, client=client)
    shard = open_sharded(folder)
    mapped = shard.maps[method]
    assert summary.out == folder / f"map-{method}.parquet" and mapped.fitted.sum() == 150
    assert np.isfinite(mapped.coords).all()
    fitted, placed = np.flatnonzero(mapped.fitted), np.flatnonzero(~mapped.fitted)
    tags = shard.data.tags
    # A placed point's nearest fitted points on the map share its tag about as often as a fitted point's
    # do (leave-one-out): placing puts each point among its own kind, not anywhere.
    on_fitted = _same_tag_share(mapped.coords, tags, fitted, fitted)
    on_placed = _same_tag_share(mapped.coords, tags, fitted, placed)
    assert on_fitted > 0.5  # 5 tags of 80: chance is about 0.2
    assert on_placed >= on_fitted - 0.05, (on_placed, on_fitted)
    shuffled = np.random.default_rng(0).permutation(mapped.coords[placed])
    scrambled = mapped.coords.copy()
    scrambled[placed] = shuffled  # the same check fails for points dropped anywhere on the map
    assert _same_tag_share(scrambled, tags, fitted, placed) < on_fitted - 0.2
    if method == "pca":  # the sample's axes place a fitted point exactly where the fit put it
        placer, sample_coords, _ = fit_placer(shard.data.vectors[fitted], method="pca")
        np.testing.assert_allclose(placer.place(shard.data.vectors[fitted]), sample_coords, atol=1e-4)
        np.testing.assert_allclose(mapped.coords[fitted], sample_coords, atol=1e-4)
        np.testing.assert_allclose(mapped.coords, placer.place(shard.data.vectors), atol=1e-4)
        import pandas as pd

        sample_only = pd.read_parquet(summary.out)
        assert sample_only["neighbours_kept"].notna().sum() == 150  # neighbours measured on the sample only
        every = map_folder(folder, method="pca", fit_sample=150, out=folder.parent / "every.parquet",
                           all_neighbours=True)
        table = pd.read_parquet(every.out)
        assert table["neighbours_kept"].notna().all() and list(table.columns) == [
            "id", "source", "tag", "x", "y", "fitted", "neighbours_kept"]


def test_the_app_opens_a_sharded_folder_with_its_written_map(photos, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import paths
    from ui import state

    root = tmp_path / "root"
    embed_to_folder(str(photos), root / "grocery-run", "color-histogram", partition_size=10)  # in-process
    map_folder(root / "grocery-run", method="tsne", fit_sample=20, seed=0)
    written = open_sharded(root / "grocery-run").maps["tsne"]
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(paths.ENV_VAR, str(root))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=180)
    at.session_state["fse_kind"] = "npz"  # straight to the folder: the default demo is not computed first
    at.session_state["fse_npz_pick"] = "grocery-run"
    at.run()
    assert at.radio(key="fse_kind").value == "npz"
    assert not at.exception, [e.value for e in at.exception]
    body = "\n".join(str(m.value) for m in list(at.markdown) + list(at.caption))
    assert "**37 images**" in body
    assert "20 points were fitted" in body and "17 placed into that map" in body
    assert "tsne map" in at.selectbox(key="fse_tag_column").options
    import base64

    def values(x):  # plotly sends typed arrays as {"dtype", "bdata"}
        if isinstance(x, dict):
            return np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))
        return np.asarray([v for v in x if v is not None], dtype=float)

    traces = map_specs(at)[0]["data"]
    xs = np.sort(np.concatenate([values(t["x"]) for t in traces if t.get("x") is not None]))
    np.testing.assert_allclose(xs, np.sort(written.coords[:, 0]), rtol=1e-5)  # drawn, not recomputed
    at.session_state[state.FOCUS_KEY] = 5
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("image")) >= 2  # the clicked picture and its neighbours, read from the shards


def test_manifest_tag_columns_reach_every_partition(shared_data, client, tmp_path, monkeypatch_module):
    """Every tag column of a real manifest is a column of the partitions, equal to the single-process .npz."""
    lines = (shared_data / "grocery-subset" / "labels.csv").read_text("utf-8").splitlines()
    manifest = tmp_path / "set" / "labels.csv"
    rows = [lines[0]] + lines[1:400:20] + ["Apple/missing.jpg,Apple,Gala,Fruit,test,x"]
    for row in rows[1:-1]:
        target = manifest.parent / row.split(",")[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / "grocery-subset" / row.split(",")[0], target)
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert cli.main(["embed", str(manifest), "--embedder", "color-histogram", "--out", str(tmp_path / "one.npz"),
                     "--no-cache", "--tag-column", "fine_label"]) == 0
    single = load_embeddings(tmp_path / "one.npz")
    embed_to_folder(str(manifest), tmp_path / "shards", "color-histogram", client=client, partition_size=6,
                    tag_column="fine_label")
    shard = open_sharded(tmp_path / "shards")
    assert shard.data.tags == single.tags and len(set(single.tags)) > 2  # fine labels as the primary tag
    assert set(shard.data.extra_tags) == {"coarse_label", "top_category", "original_split", "original_path"}
    assert shard.data.extra_tags == single.extra_tags
    assert [s.file for s in shard.skipped] == ["Apple/missing.jpg"]


def test_cluster_options_are_checked_before_any_work(tmp_path, photos, capsys, monkeypatch_module):
    assert cli.main(["embed", str(photos), "--embedder", "hog", "--out", str(tmp_path / "x.npz"),
                     "--workers", "2"]) == 1
    assert "--out is a folder" in capsys.readouterr().err
    assert cli.main(["embed", str(photos), "--embedder", "hog", "--out", str(tmp_path / "d"),
                     "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 1
    assert "not both" in capsys.readouterr().err
    assert cli.main(["map", str(photos), "--fit-sample", "10"]) == 1
    assert "apply to a folder written by embed" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
