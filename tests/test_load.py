"""explorer.io.load: every kind of source classified once, one immutable record, the app's limits in one place."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from explorer import limits
from explorer.cluster.shards import write_vectors_folder
from explorer.io.load import (SourceKind, VectorBytes, classify_source, embed_workset, load_workset,
                              workset_from_images)
from explorer.io.sources import LoadError, load_source
from explorer.io.store import EmbeddingFile, NON_FINITE_REASON, save_embeddings
from test_cli import jpeg_bytes


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    for tag, base in {"red": (200, 30, 30), "blue": (30, 30, 200)}.items():
        (root / tag).mkdir(parents=True)
        for i in range(3):
            (root / tag / f"{tag}{i}.jpg").write_bytes(jpeg_bytes(tuple(c + 10 * i for c in base)))
    return root


def npz_bytes(vectors: np.ndarray, *, embedder: str = "hog") -> bytes:
    n = len(vectors)
    buf = io.BytesIO()
    np.savez(buf, ids=np.array([f"r{i}" for i in range(n)]), sources=np.array([f"s{i}.jpg" for i in range(n)]),
             tags=np.array(["a", "b"] * (n // 2) + ["a"] * (n % 2)), vectors=vectors.astype(np.float32),
             embedder=np.array(embedder))
    return buf.getvalue()


def test_classify_source_names_every_kind(tmp_path, folder):
    record = load_workset(folder, embedder="pixels", cache=None)
    npz = save_embeddings(tmp_path / "v.npz", record.images, record.vectors, record.embedder)
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*.jpg")):
            zf.write(path, path.relative_to(folder).as_posix())
    manifest = tmp_path / "set" / "list.csv"
    manifest.write_text("file,tag\nred/red0.jpg,red\n", encoding="utf-8")
    vectors_parquet = tmp_path / "v.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "vector": [[0.0, 1.0], [1.0, 0.0]]}), vectors_parquet)
    table_parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"file": ["red/red0.jpg"], "tag": ["red"]}), table_parquet)
    tensors = tmp_path / "tensors.tsv"
    tensors.write_text("0.1\t0.2\n0.3\t0.4\n", encoding="utf-8")
    shards = write_vectors_folder(tmp_path / "shards", EmbeddingFile(
        ids=["a", "b", "c"], sources=["a", "b", "c"], tags=["x", "y", "x"], vectors=np.eye(3, dtype=np.float32),
        embedder="hog"))
    expected = {
        "demo:hands": SourceKind.DEMO, str(folder): SourceKind.FOLDER, str(archive): SourceKind.ZIP,
        str(manifest): SourceKind.MANIFEST, str(table_parquet): SourceKind.MANIFEST, str(npz): SourceKind.NPZ,
        str(vectors_parquet): SourceKind.PARQUET_VECTORS, str(tensors): SourceKind.PROJECTOR,
        str(shards): SourceKind.SHARD_FOLDER,
    }
    assert {spec: classify_source(spec) for spec in expected} == expected
    assert classify_source(Path(npz)) is SourceKind.NPZ  # a Path is the same source as its text
    assert classify_source(record.images) is SourceKind.IMAGES
    assert classify_source(VectorBytes("up.npz", b"")) is SourceKind.UPLOADED_VECTORS
    assert {k.value for k in SourceKind} == {"demo", "folder", "zip", "manifest", "npz", "parquet_vectors",
                                             "projector", "shard_folder", "images", "uploaded_vectors"}
    assert [k for k in SourceKind if k.brings_vectors] == [SourceKind.NPZ, SourceKind.PARQUET_VECTORS,
                                                          SourceKind.PROJECTOR, SourceKind.SHARD_FOLDER,
                                                          SourceKind.UPLOADED_VECTORS]
    with pytest.raises(LoadError, match="nowhere: not found"):
        classify_source(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(LoadError, match="notes.txt: unsupported source"):
        classify_source(tmp_path / "notes.txt")


def test_record_is_frozen_and_embedding_returns_a_new_record(folder):
    rows = load_workset(folder, embedder=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows.vectors = np.zeros((len(rows), 2), np.float32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows.shard = object()
    embedded = embed_workset(rows, "pixels")
    assert embedded is not rows
    assert rows.vectors is None and rows.embedder is None and rows.key == rows.set_key  # the input is untouched
    assert embedded.vectors.shape[0] == len(rows) and embedded.embedder_name == "pixels"
    assert embedded.key != rows.key and embedded.set_key == rows.set_key and embedded.ids == rows.ids


def test_tag_columns_are_derived_once_from_the_images():
    images = load_source("demo:hands", image_size=32)
    record = workset_from_images(images)
    assert list(record.columns) == ["tag", "kind"] and record.column("kind") == list(images.extra_tags["kind"])


def test_vectors_label_names_the_embedder_or_the_file(tmp_path, folder):
    embedded = load_workset(folder, embedder="pixels", cache=None)
    assert embedded.vectors_label == "embedded with pixels"
    npz = save_embeddings(tmp_path / "faces.npz", embedded.images, embedded.vectors, embedded.embedder)
    from_file = load_workset(npz)
    assert from_file.vectors_label == "vectors from faces.npz (pixels)"
    assert "embedded with" not in from_file.vectors_label and "****" not in from_file.vectors_label
    tensors = tmp_path / "tensors.tsv"
    tensors.write_text("0.1\t0.2\n0.3\t0.4\n0.5\t0.1\n", encoding="utf-8")
    assert load_workset(tensors).vectors_label == "vectors from tensors.tsv"  # a bundle names no embedder
    assert load_workset(folder, embedder=None).vectors_label == ""


def test_app_limits_refuse_a_too_big_upload_with_its_bare_name():
    too_many = np.zeros((limits.APP_VECTORS.max_rows + 1, 1), np.float32)
    upload = VectorBytes(name="big.npz", data=npz_bytes(too_many))
    with pytest.raises(LoadError) as refused:
        load_workset(upload, limits=limits.APP_VECTORS)
    assert str(refused.value) == "big.npz: declares 100,001 x 1 vectors, over the limit of 100,000 rows"
    small = load_workset(VectorBytes(name="ok.npz", data=npz_bytes(np.eye(4))), limits=limits.APP_VECTORS)
    assert len(small) == 4 and small.name == "ok.npz" and small.images is None


def test_app_limits_name_a_server_file_by_its_bare_name_and_drop_non_finite_rows(tmp_path):
    wide = tmp_path / "deep" / "server" / "wide.npz"
    wide.parent.mkdir(parents=True)
    wide.write_bytes(npz_bytes(np.zeros((2, limits.APP_VECTORS.max_dims + 1))))
    with pytest.raises(LoadError) as refused:
        load_workset(wide, limits=limits.APP_VECTORS)
    assert "wide.npz" in str(refused.value) and str(wide.parent) not in str(refused.value)
    assert len(load_workset(wide)) == 2  # the operator's own file: only the zip-bomb guard applies
    vectors = np.eye(4)
    vectors[1, 0] = np.nan
    holed = tmp_path / "holed.npz"
    holed.write_bytes(npz_bytes(vectors))
    app = load_workset(holed, limits=limits.APP_VECTORS)
    assert len(app) == 3 and [s.reason for s in app.skipped] == [NON_FINITE_REASON]
    assert len(load_workset(holed)) == 4  # the CLI keeps every row; the map excludes the NaN one and says so


def test_uploaded_projector_bundle_is_read_in_memory_within_the_limits():
    text = "\n".join("\t".join(["0.5"] * 3) for _ in range(4)).encode()
    record = load_workset(VectorBytes(name="tensors.tsv", data=text), limits=limits.APP_VECTORS)
    assert record.vectors.shape == (4, 3) and record.vectors_label == "vectors from tensors.tsv"
    narrow = dataclasses.replace(limits.APP_VECTORS, max_rows=3)
    with pytest.raises(LoadError, match=r"^tensors.tsv: more than 3 rows, over the limit of 3 rows$"):
        load_workset(VectorBytes(name="tensors.tsv", data=text), limits=narrow)
