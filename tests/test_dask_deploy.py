"""Issue 20: a real Dask deployment — `dask scheduler` and two `dask worker` processes started on
127.0.0.1 (free ports, bounded time, always torn down), `embed --scheduler` and `map --fit-sample` run
against them as separate command-line processes, and a worker killed in the middle of `embed` changes
nothing in the output (Dask reschedules its tasks; the resume logic covers the rest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from explorer.io.interop import load_vectors  # noqa: E402
from explorer.io.store import load_embeddings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(240)
START_TIMEOUT_S = 60
TAGS = ("red", "green", "blue")


def make_images(root: Path, per_tag: int = 40) -> Path:
    """Small PNGs in one folder per tag, each picture different (a seeded gradient and noise)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for t, tag in enumerate(TAGS):
        (root / tag).mkdir(parents=True)
        for i in range(per_tag):
            pixels = rng.integers(0, 60, (24, 24, 3), dtype=np.uint8)
            pixels[..., t] += np.uint8(120 + i)
            Image.fromarray(pixels).save(root / tag / f"{tag}{i:03d}.png")
    return root


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    return subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=REPO, env=env, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the worker and anything it started
        except ProcessLookupError:
            pass
    proc.wait(10)


def wait_for(predicate, timeout: float, what: str, logs: list[Path]) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs if p.exists())
    raise AssertionError(f"{what} within {timeout:.0f} s\n{tails}")


@pytest.fixture
def deployment(tmp_path):
    """(scheduler address, {name: worker process}, logs folder) of a scheduler and two workers."""
    logs = tmp_path / "logs"
    logs.mkdir()
    file = tmp_path / "scheduler.json"
    procs = [spawn(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                    str(file)], logs / "scheduler.log")]
    try:
        wait_for(lambda: file.exists() and "address" in file.read_text() or procs[0].poll() is not None,
                 START_TIMEOUT_S, "the scheduler did not start", list(logs.iterdir()))
        assert procs[0].poll() is None, (logs / "scheduler.log").read_text()
        address = json.loads(file.read_text())["address"]
        workers = {}
        for name in ("w1", "w2"):
            workers[name] = spawn(["worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
                                   "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "1GiB"],
                                  logs / f"{name}.log")
            procs.append(workers[name])

        def registered() -> bool:
            return all("Registered to" in (logs / f"{n}.log").read_text(errors="replace") for n in workers)

        wait_for(registered, START_TIMEOUT_S, "the two workers did not register", list(logs.iterdir()))
        yield address, workers, logs
    finally:
        for proc in reversed(procs):
            stop(proc)


def explorer(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "explorer", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, **kwargs)


def parts_written(folder: Path) -> int:
    return len(list(folder.glob("part-*.parquet"))) if folder.is_dir() else 0


def test_embed_and_map_on_a_real_scheduler_survive_a_killed_worker(deployment, tmp_path):
    address, workers, logs = deployment
    source = make_images(tmp_path / "set")
    cache = ["--cache-dir", str(tmp_path / "cache")]
    single = tmp_path / "single.npz"
    run = subprocess.run([sys.executable, "-m", "explorer", "embed", str(source), "--embedder", "pixels",
                          "--out", str(single), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr

    out = tmp_path / "sharded"
    partitions = 120 // 4
    embed = explorer("embed", str(source), "--embedder", "pixels", "--out", str(out), "--partition-size", "4",
                     "--scheduler", address, *cache)
    # kill one worker as soon as the first partitions are written: the rest of its work moves to the other
    wait_for(lambda: parts_written(out) >= 2 or embed.poll() is not None, 120, "embed wrote no partition",
             list(logs.iterdir()))
    at_kill = parts_written(out)
    stop(workers["w1"])
    stdout, stderr = embed.communicate(timeout=150)
    print(f"partitions written when w1 was killed: {at_kill} of {partitions}; embed exit {embed.returncode}")
    assert at_kill < partitions, "embed finished before the worker could be killed: nothing was tested"
    wait_for(lambda: any("Remove worker" in line and "w1" in line
                         for line in (logs / "scheduler.log").read_text(errors="replace").splitlines()),
             30, "the scheduler did not notice the lost worker", [logs / "scheduler.log"])
    if embed.returncode != 0:  # a task lost with its worker too often: the resume finishes the rest
        again = explorer("embed", str(source), "--embedder", "pixels", "--out", str(out), "--partition-size",
                         "4", "--scheduler", address, *cache)
        stdout, stderr = again.communicate(timeout=150)
        assert again.returncode == 0, stderr
    assert parts_written(out) == partitions, stderr

    exported = tmp_path / "from-cluster.parquet"
    run = subprocess.run([sys.executable, "-m", "explorer", "export", str(out), "--format", "parquet", "--out",
                          str(exported)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    a, b = load_embeddings(single), load_vectors(exported)
    assert a.ids == b.ids and a.tags == b.tags and a.sources == b.sources
    np.testing.assert_allclose(b.vectors, a.vectors, rtol=1e-5, atol=1e-6)

    mapped = explorer("map", str(out), "--method", "pca", "--fit-sample", "30", "--scheduler", address)
    stdout, stderr = mapped.communicate(timeout=150)
    assert mapped.returncode == 0, stderr
    import pandas as pd

    table = pd.read_parquet(out / "map-pca.parquet")
    assert len(table) == 120 and int(table["fitted"].sum()) == 30 and np.isfinite(table[["x", "y"]]).all().all()
    assert "w2" in (logs / "w2.log").read_text(errors="replace")  # the surviving worker did the map's work
