"""The sharded folder reader (explorer.cluster.shards.open_sharded): partition files read in parallel give
exactly the rows, order, vectors and tag columns that were written, whatever the thread count and however
many rows each partition holds; a damaged or mismatched file is a ClusterError naming it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from explorer.cluster.shards import (MAP_PATTERN, PART_PATTERN, ClusterError, open_sharded, write_table,
                                     write_vectors_folder)
from explorer.io.load import load_workset
from explorer.io.store import EmbeddingFile


def rows(n: int = 2_503, d: int = 7) -> EmbeddingFile:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(n, d)).astype(np.float32)
    vectors[5] = np.nan  # kept as written: the loader, not the reader, decides about non-finite rows
    return EmbeddingFile(ids=[f"id{i}" for i in range(n)], sources=[f"dir/{i}.jpg" for i in range(n)],
                         tags=[f"t{i % 7}" for i in range(n)], vectors=vectors, embedder="synthetic",
                         extra_tags={"split": [("train", "test")[i % 3 == 0] for i in range(n)],
                                     "note": [f"n{i}" for i in range(n)]},  # "note" is reserved: stored as tag__note
                         embedder_key="synthetic")


@pytest.fixture()
def folder(tmp_path):
    """2,503 rows in partitions of 100, part 1 cut to 30 rows (as when a partition's files were skipped)."""
    data = rows()
    out = write_vectors_folder(tmp_path / "shards", data, partition_size=100)
    part = out / PART_PATTERN.format(1)
    table = pq.read_table(part)
    write_table(part, table.slice(0, 30).replace_schema_metadata(table.schema.metadata))
    keep = np.r_[0:130, 200:len(data.ids)]
    return out, data, keep


@pytest.mark.parametrize("threads", [1, 4])
def test_every_row_comes_back_in_order_with_its_vector(folder, threads):
    out, data, keep = folder
    shard = open_sharded(out, threads=threads)
    got = shard.data
    assert got.ids == [data.ids[i] for i in keep]
    assert got.sources == [data.sources[i] for i in keep]
    assert got.tags == [data.tags[i] for i in keep]
    assert list(got.extra_tags) == ["split", "note"]
    for name, values in data.extra_tags.items():
        assert got.extra_tags[name] == [values[i] for i in keep]
    assert got.vectors.dtype == np.float32 and got.vectors.shape == (len(keep), 7)
    assert got.vectors.tobytes() == data.vectors[keep].tobytes()  # bit for bit, NaN row included
    assert [(p.name, start, n) for p, start, n in shard.parts][:3] == [
        ("part-00000.parquet", 0, 100), ("part-00001.parquet", 100, 30), ("part-00002.parquet", 130, 100)]
    assert shard.locate(130) == (out / PART_PATTERN.format(2), 0)


def test_a_tag_column_shares_one_string_per_value(folder):
    """A million tags of a few values cost pointers, not a string each."""
    got = open_sharded(folder[0]).data
    assert len({id(t) for t in got.tags}) == 7
    assert len({id(s) for s in got.ids}) == len(got.ids)


def test_without_vectors_the_rows_are_the_same(folder):
    out, data, keep = folder
    got = open_sharded(out, vectors=False).data
    assert got.ids == [data.ids[i] for i in keep] and got.vectors.shape == (len(keep), 7)


def test_a_damaged_partition_names_its_file(folder):
    out = folder[0]
    bad = out / PART_PATTERN.format(17)
    bad.write_bytes(bad.read_bytes()[:-300])  # footer gone
    with pytest.raises(ClusterError, match=r"part-00017\.parquet: not a readable partition file"):
        open_sharded(out, threads=4)


def test_a_corrupt_column_names_its_file(folder):
    out = folder[0]
    bad = out / PART_PATTERN.format(9)
    raw = bytearray(bad.read_bytes())
    raw[200:2000] = bytes(1800)  # data pages zeroed, footer intact
    bad.write_bytes(bytes(raw))
    with pytest.raises(ClusterError, match=r"part-00009\.parquet: not a readable partition file"):
        open_sharded(out, threads=4)


def test_a_partition_with_other_tag_columns_names_its_file(folder):
    out = folder[0]
    part = out / PART_PATTERN.format(4)
    table = pq.read_table(part)
    write_table(part, table.drop_columns(["split"]).replace_schema_metadata(
        {**table.schema.metadata, b"explorer.tag_columns": b'["note"]'}))
    with pytest.raises(ClusterError, match=r"part-00004\.parquet: its tag columns"):
        open_sharded(out)


def test_a_written_map_is_read_and_checked_against_the_rows(folder):
    out, data, keep = folder
    ids = [data.ids[i] for i in keep]
    xy = np.arange(2 * len(ids), dtype=np.float32).reshape(-1, 2)
    fitted = np.arange(len(ids)) % 5 == 0
    table = {"id": pa.array(ids, pa.string()), "source": pa.array([""] * len(ids)), "tag": pa.array([""] * len(ids)),
             "x": pa.array(xy[:, 0]), "y": pa.array(xy[:, 1]), "fitted": pa.array(fitted),
             "neighbours_kept": pa.array(np.zeros(len(ids)))}
    write_table(out / MAP_PATTERN.format("pca"), pa.table(table))
    mapped = open_sharded(out).maps["pca"]
    assert np.array_equal(mapped.coords, xy) and np.array_equal(mapped.fitted, fitted)
    ws = load_workset(str(out))  # the record the app draws: a column says how each point got on the map
    assert ws.columns["pca map"] == ["fitted" if f else "placed" for f in fitted]
    assert ws.ids == ids and ws.vectors.tobytes() == data.vectors[keep].tobytes()
    table["id"] = pa.array(ids[:-2] + [ids[-1], ids[-2]], pa.string())  # two rows swapped
    write_table(out / MAP_PATTERN.format("pca"), pa.table(table))
    with pytest.raises(ClusterError, match=r"map-pca\.parquet: its rows do not match"):
        open_sharded(out)
