"""Issue 20: every vector reader checks before it allocates (Projector text, ZIP members, Parquet).

Each hostile file of the issue is opened in a fresh child process as the app opens an upload
(``explorer.limits.APP_VECTORS``, a bare name in messages) and its peak memory is measured there
(tests/amplifiers.VECTOR_CHILD). Before issue 20 (checked on 880f911 with bench/bench_vector_limits.py):
bundle-zip-120MB-rows +5 GB, tensors-tsv-30MB-rows +1.5 GB, parquet-1M-x-100 +2.2 GB, parquet-100k-x-1024
+2.7 GB (accepted), bundle-lying-member-800MB +1.6 GB; each assertion on the peak below failed there.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import amplifiers
from explorer import limits
from explorer.io import bounded, interop, store

REPO = Path(__file__).resolve().parents[1]

# case -> (expected start of the child's outcome, budget in MB above the child's idle memory)
EXPECTED = {
    "bundle-zip-120MB-rows": ("refused bundle.zip!bundle/tensors.tsv: more than 100,000 rows, over the limit of 100,000 rows", 150),
    "tensors-tsv-30MB-rows": ("refused tensors.tsv: more than 100,000 rows, over the limit of 100,000 rows", 150),
    "parquet-1M-x-100": ("refused zeros.parquet: 1,000,000 rows, over the limit of 100,000 rows", 150),
    "parquet-100k-x-1024": ("refused wide.parquet: 102,400,000 vector values (781 MiB), over the limit of 512 MiB", 150),
    # inside the caps: loaded, a 400 MB float32 matrix and little beside it (before: 2.6 GB)
    "parquet-100k-x-1024-float32": ("loaded 100000x1024", 700),
    "bundle-lying-member-800MB": ("refused lying.zip!bundle/tensors.tsv: damaged in archive (bad CRC)", 150),
    "npz-lying-member-800MB": ("loaded 2x2", 150),  # the member that is no array is never read
}


def child(path: Path, name: str) -> tuple[str, int, int]:
    out = subprocess.run([sys.executable, "-c", amplifiers.VECTOR_CHILD, str(REPO), str(path), name],
                         capture_output=True, text=True, timeout=300, check=True)
    *lines, idle, peak = out.stdout.strip().splitlines()
    return "\n".join(lines), int(idle), int(peak)


@pytest.mark.parametrize("case", list(EXPECTED))
def test_hostile_vector_files_are_refused_or_read_within_budget(tmp_path, case):
    (name, path), = amplifiers.vector_cases(tmp_path, [case]).values()
    outcome, idle, peak = child(path, name)
    expected, budget = EXPECTED[case]
    assert outcome.startswith(expected), outcome
    assert "\n" not in outcome and str(tmp_path) not in outcome and "/tmp" not in outcome  # one line, no server path
    assert peak - idle < budget, f"{case}: {peak - idle} MB above idle"


# --- the bounded reader and the streaming passes, in process ------------------------------------------------

def test_a_member_stops_at_its_declared_size_and_at_the_cap(tmp_path):
    lying = amplifiers.lying_zip(tmp_path / "l.zip", "m", 50 << 20, declares=1000)
    with zipfile.ZipFile(lying) as zf:
        with pytest.raises(bounded.MemberRefused, match="bad CRC|declared size"):
            bounded.read_member(zf, "m", 1 << 30)
    honest = tmp_path / "h.zip"
    with zipfile.ZipFile(honest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m", bytes(5 << 20))
    with zipfile.ZipFile(honest) as zf:
        with pytest.raises(bounded.MemberRefused, match="declares 5 MiB, over the limit of 1 MiB"):
            bounded.read_member(zf, "m", 1 << 20)
        assert bounded.read_member(zf, "m", 8 << 20) == bytes(5 << 20)


def test_lines_are_split_across_chunks_and_bounded():
    chunks = iter([b"1\t2\r\n3", b"\t4\n", b"5\t6"])
    assert list(bounded.iter_lines(chunks, max_line=10)) == [(1, b"1\t2"), (2, b"3\t4"), (3, b"5\t6")]
    with pytest.raises(bounded.LineTooLong, match="line 2: longer than"):
        list(bounded.iter_lines(iter([b"ok\n", b"x" * 50]), max_line=10))


def test_projector_limits_name_the_limit_before_parsing():
    small = limits.VectorLimits(max_rows=3, max_dims=2, max_bytes=1 << 20)
    with pytest.raises(ValueError, match=r"^tensors.tsv: more than 3 rows, over the limit of 3 rows$"):
        interop.parse_projector("1\t2\n" * 4, None, limits=small)
    with pytest.raises(ValueError, match=r"^tensors.tsv line 1: 3 values, over the limit of 2 dimensions$"):
        interop.parse_projector("1\t2\t3\n", None, limits=small)
    tight = limits.VectorLimits(max_rows=None, max_dims=None, max_bytes=64)
    with pytest.raises(ValueError, match=r"more than 8 rows of 2 values, over the limit of 0 MiB of vectors"):
        interop.parse_projector("1\t2\n" * 9, None, limits=tight)
    ok = interop.parse_projector("1\t2\n3\t4\n", "id\ttag\na\tx\nb\ty\n", limits=small)
    np.testing.assert_array_equal(ok.vectors, [[1, 2], [3, 4]])


def test_uploaded_bytes_are_read_without_a_temporary_file_and_named_by_their_bare_name():
    from explorer.io import export

    rows = export.ExportRows(ids=["a", "b"], sources=["a.png", "b.png"], columns={"tag": ["x", "y"]},
                             vectors=np.eye(2, dtype=np.float32))
    bundle = export.zip_bytes(export.projector_files(rows))
    back = interop.load_vectors(bundle, name="mine.zip", limits=limits.APP_VECTORS)
    assert back.ids == ["a", "b"] and back.tags == ["x", "y"]
    parquet = export.embeddings_parquet_bytes(rows)
    assert interop.load_vectors(parquet, name="mine.parquet", limits=limits.APP_VECTORS).vectors.shape == (2, 2)
    with pytest.raises(ValueError, match=r"^mine.parquet: 2 rows, over the limit of 1 rows$"):
        interop.load_vectors(parquet, name="mine.parquet", limits=limits.VectorLimits(1, None, 1 << 20))


def test_text_from_parquet_and_bundles_is_inert(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "bidi.parquet"
    pq.write_table(pa.table({"\u202eclass": ["cat\u202e", "\x1b[31mdog"], "vector": [[1.0, 0.0], [0.0, 1.0]]}), path)
    data = interop.load_vectors(path)
    assert list(data.extra_tags) == ["\ufffdclass"] and data.tags == ["cat\ufffd", "\ufffd[31mdog"]
    bundle = interop.parse_projector("1\n2\n", "id\t\u202elabel\na\u2066\tx\nb\ty\n")
    assert bundle.ids == ["a\ufffd", "b"] and list(bundle.extra_tags) == ["\ufffdlabel"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, value in {"ids": np.array(["a"]), "sources": np.array(["s"]), "tags": np.array(["t"]),
                           "vectors": np.ones((1, 2), np.float32), "tag__\u202eevil": np.array(["v"])}.items():
            one = io.BytesIO()
            np.save(one, value)
            zf.writestr(key + ".npy", one.getvalue())
    assert list(store.load_embeddings(buf.getvalue()).extra_tags) == ["\ufffdevil"]
