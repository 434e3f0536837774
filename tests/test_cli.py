"""The CLI contracts of the issues: flags, JSON keys, CSV columns, exit codes, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.cli import main

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def jpeg_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def tagged_folder(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    rng = np.random.default_rng(0)
    for tag, base in [("red", (200, 30, 30)), ("blue", (30, 30, 200))]:
        (root / tag).mkdir(parents=True)
        for i in range(4):
            colour = tuple(int(np.clip(c + rng.integers(-20, 20), 0, 255)) for c in base)
            (root / tag / f"{tag}{i}.jpg").write_bytes(jpeg_bytes(colour))
    (root / "red" / "broken.jpg").write_bytes(jpeg_bytes((1, 2, 3))[:60])
    (root / "blue" / "notes.jpg").write_bytes(b"this is not an image")
    return root


def test_info_json_counts_tags_and_reports_skips(capsys, tagged_folder):
    code, out, _ = run(capsys, "info", str(tagged_folder), "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"images", "tags", "skipped"}
    assert report["images"] == 8
    assert report["tags"] == {"red": 4, "blue": 4}
    skipped = {Path(item["file"]).name: item["reason"] for item in report["skipped"]}
    assert set(skipped) == {"broken.jpg", "notes.jpg"}
    assert all(reason for reason in skipped.values())


def test_info_text_names_each_tag(capsys, tagged_folder):
    code, out, _ = run(capsys, "info", str(tagged_folder))
    assert code == 0
    assert "8 images" in out and "red" in out and "blue" in out and "broken.jpg" in out


def test_info_on_demo_matches_its_image_set(capsys):
    from explorer.io.demos import load_demo

    expected = load_demo("hands").tag_counts()
    code, out, _ = run(capsys, "info", "demo:hands", "--json")
    assert code == 0
    assert json.loads(out)["tags"] == expected


def folder_with(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("make_source", [
    lambda tmp: tmp / "missing-folder",
    lambda tmp: (tmp / "empty").mkdir() or tmp / "empty",
    lambda tmp: folder_with(tmp / "junk", {"a.jpg": b"nope", "b.png": b""}),
], ids=["missing", "empty", "only-bad-files"])
def test_nothing_loaded_is_one_line_and_nonzero(capsys, tmp_path, make_source):
    source = make_source(tmp_path)
    code, out, err = run(capsys, "info", str(source), "--json")
    assert code != 0
    assert out == ""
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and str(source.name) in last


def test_unknown_embedder_is_refused_with_its_name(capsys, tmp_path):
    code, _, err = run(capsys, "embed", "demo:hands", "--embedder", "wavelets", "--out", str(tmp_path / "x.npz"))
    assert code != 0
    assert "wavelets" in err and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()


def test_missing_required_flag_is_a_usage_error(capsys):
    code, _, err = run(capsys, "embed", "demo:hands")
    assert code == 2
    assert "--embedder" in err


def test_embed_writes_the_four_contract_arrays(capsys, tmp_path, tagged_folder):
    out_file = tmp_path / "vectors.npz"
    code, _, err = run(capsys, "embed", str(tagged_folder), "--embedder", "pixels", "--out", str(out_file),
                       "--cache-dir", str(tmp_path / "cache"))
    assert code == 0, err
    with np.load(out_file, allow_pickle=False) as data:
        for key in ("ids", "sources", "tags", "vectors"):
            assert key in data.files
        vectors = data["vectors"]
        assert vectors.dtype == np.float32 and vectors.shape == (8, 32 * 32)
        assert sorted(data["tags"].tolist()) == ["blue"] * 4 + ["red"] * 4
        assert len(set(data["ids"].tolist())) == 8
        assert all(Path(s).suffix == ".jpg" for s in data["sources"].tolist())
    assert "broken.jpg" in err  # skips are reported, not fatal


def test_map_from_npz_writes_contract_columns(capsys, tmp_path, tagged_folder):
    npz = tmp_path / "v.npz"
    assert run(capsys, "embed", str(tagged_folder), "--embedder", "pixels", "--out", str(npz), "--no-cache")[0] == 0
    out_csv = tmp_path / "map.csv"
    code, _, err = run(capsys, "map", str(npz), "--method", "pca", "--out", str(out_csv))
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert list(rows[0].keys()) == ["id", "source", "tag", "x", "y", "neighbours_kept"]
    assert len(rows) == 8
    kept = [float(r["neighbours_kept"]) for r in rows]
    assert all(0.0 <= k <= 1.0 for k in kept)
    # Red and blue images differ strongly in raw pixels, so PCA's first axis splits them.
    xs = {tag: [float(r["x"]) for r in rows if r["tag"] == tag] for tag in ("red", "blue")}
    assert max(xs["red"]) < min(xs["blue"]) or max(xs["blue"]) < min(xs["red"])
    assert "trustworthiness" in err


def test_map_3d_tsne_to_stdout_clamps_perplexity(capsys, tagged_folder):
    code, out, err = run(capsys, "map", str(tagged_folder), "--embedder", "pixels", "--method", "tsne", "--dims", "3",
                         "--perplexity", "30", "--seed", "3", "--no-cache")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0].keys()) == ["id", "source", "tag", "x", "y", "z", "neighbours_kept"]
    assert len(rows) == 8
    coords = np.array([[float(r[c]) for c in "xyz"] for r in rows])
    assert np.isfinite(coords).all() and coords.std(axis=0).min() > 0
    assert "perplexity" in err  # 30 is impossible for 8 points: the note says what was used


def test_map_reads_a_zip(capsys, tmp_path, tagged_folder):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(tagged_folder.rglob("*.jpg")):
            zf.write(path, path.relative_to(tagged_folder).as_posix())
    code, out, err = run(capsys, "map", str(archive), "--method", "pca", "--no-cache")
    assert code == 0, err
    assert len(list(csv.DictReader(io.StringIO(out)))) == 8


def test_separation_json_has_contract_keys(capsys):
    code, out, err = run(capsys, "separation", "demo:hands", "--embedder", "pixels", "--json", "--no-cache")
    assert code == 0, err
    report = json.loads(out)
    for key in ("knn_agreement", "silhouette", "alignment", "uniformity", "per_tag"):
        assert key in report
    assert 0.0 <= report["knn_agreement"] <= 1.0
    assert -1.0 <= report["silhouette"] <= 1.0
    assert set(report["per_tag"]) == set(json.loads(main_json(capsys, "info", "demo:hands"))["tags"])
    assert "held_out_knn_agreement" not in report


def main_json(capsys, *argv: str) -> str:
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    return out


@pytest.mark.skipif(not (SHARED / "grocery-subset" / "labels.csv").exists(), reason="../shared/data is not present")
def test_info_reads_the_real_manifest_with_a_tag_column(capsys):
    manifest = SHARED / "grocery-subset" / "labels.csv"
    header = manifest.read_text(encoding="utf-8").splitlines()[0].split(",")
    code, out, err = run(capsys, "info", str(manifest), "--tag-column", header[1], "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["images"] + len(report["skipped"]) == len(manifest.read_text(encoding="utf-8").splitlines()) - 1
    code, _, err = run(capsys, "info", str(manifest), "--tag-column", "no-such-column", "--json")
    assert code != 0 and "no-such-column" in err


def test_python_dash_m_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "explorer", "info", "demo:hands", "--json"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["images"] > 0


def test_separation_reads_an_npz_and_trains_a_head(capsys, tmp_path):
    npz = tmp_path / "hands.npz"
    assert run(capsys, "embed", "demo:hands", "--embedder", "pixels", "--out", str(npz), "--no-cache")[0] == 0
    code, out, err = run(capsys, "separation", str(npz), "--train-contrastive", "--seed", "1", "--json")
    assert code == 0, err
    report = json.loads(out)
    held_out = report["held_out_knn_agreement"]
    assert set(held_out) >= {"before", "after"}
    assert all(0.0 <= held_out[key] <= 1.0 for key in ("before", "after"))
    assert report["alignment"] is None  # vectors alone cannot be augmented; the report says so
    assert any("alignment" in note.lower() for note in report.get("notes", []))


def clustered_npz(path: Path, n: int = 60, d: int = 8) -> Path:
    from explorer.imageset import ImageSet
    from explorer.io.store import save_embeddings

    rng = np.random.default_rng(0)
    tags = [f"t{i % 3}" for i in range(n)]
    centres = 5 * rng.standard_normal((3, d))
    X = centres[[i % 3 for i in range(n)]] + rng.standard_normal((n, d))
    rows = [f"r{i}" for i in range(n)]
    fake = ImageSet(ids=rows, hashes=rows, sources=rows, tags=tags, pixels=np.zeros((n, 1, 1, 3), np.uint8),
                    thumbnails=[b""] * n)
    save_embeddings(path, fake, X.astype(np.float32), "synthetic")
    return path


def test_map_estimates_measures_on_a_stated_sample_and_exact_on_request(capsys, tmp_path, monkeypatch):
    import explorer.measures as measures

    monkeypatch.setattr(measures, "SAMPLE_ABOVE", 40)
    monkeypatch.setattr(measures, "SAMPLE_SIZE", 25)
    npz = clustered_npz(tmp_path / "v.npz")
    code, out, err = run(capsys, "map", str(npz), "--method", "pca")
    assert code == 0, err
    assert "measures estimated on a random sample of 25 of 60 points" in err
    kept = [r["neighbours_kept"] for r in csv.DictReader(io.StringIO(out))]
    assert sum(v != "" for v in kept) == 25 and len(kept) == 60
    estimate = float(err.split("knn_agreement_embedding: ")[1].split()[0])
    code, out, err = run(capsys, "map", str(npz), "--method", "pca", "--exact-measures")
    assert code == 0, err
    assert "estimated" not in err
    assert all(r["neighbours_kept"] != "" for r in csv.DictReader(io.StringIO(out)))
    exact = float(err.split("knn_agreement_embedding: ")[1].split()[0])
    assert abs(exact - estimate) <= 0.2 and exact > 0.9  # three well-separated clusters
