"""Results shipped with the app for its built-in demo (``assets/precomputed/``), found by content key.

The first open of the app draws the default demo's map without computing it: the map (and, when shipped,
the vectors) were computed by this code and saved with the key of the set and embedder they belong to
(``WorkSet.key``). A file whose key no longer matches what the code computes (the demo's drawing or the
embedder changed) is simply never found; ``tests/test_shipped.py`` fails until it is rebuilt with
``python scripts/build_shipped_demo.py``.
"""

from __future__ import annotations

import functools
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.projection import Projection

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "assets" / "precomputed"
FORMAT = "fse-shipped-1"


@dataclass(frozen=True)
class MapParams:
    """The parameters a map is cached under (``ui.compute.get_projection``)."""

    method: str
    dims: int
    perplexity: float | None
    seed: int

    @property
    def name(self) -> str:
        perplexity = "" if self.perplexity is None else f"-p{self.perplexity:g}"
        return f"map-{self.method}-{self.dims}d{perplexity}-s{self.seed}"


@dataclass(frozen=True)
class ShippedResults:
    """One set's shipped results: its key, its vectors (or None) and maps by their parameters."""

    key: str
    vectors: np.ndarray | None
    maps: dict[MapParams, Projection] = field(default_factory=dict)


def save_shipped(path: str | Path, key: str, *, vectors: np.ndarray | None,
                 maps: dict[MapParams, Projection]) -> None:
    """Write ``key``'s results to ``path`` (.npz): float32 arrays and a JSON header naming them."""
    header = {"format": FORMAT, "key": key, "vectors": vectors is not None,
              "maps": [{"method": p.method, "dims": p.dims, "perplexity": p.perplexity, "seed": p.seed,
                        "array": p.name, "params": proj.params, "notes": proj.notes,
                        "excluded": {str(row): why for row, why in proj.excluded.items()}}
                       for p, proj in maps.items()]}
    arrays = {p.name: np.asarray(proj.coords, np.float32) for p, proj in maps.items()}
    if vectors is not None:
        arrays["vectors"] = np.asarray(vectors, np.float32)
    np.savez_compressed(path, header=np.array(json.dumps(header, sort_keys=True)), **arrays)


def find_shipped(key: str, folder: str | Path = SHIPPED_DIR) -> ShippedResults | None:
    """The results shipped for ``key`` in ``folder``, or None (nothing shipped for it, or unreadable)."""
    path = _index(str(folder)).get(key)
    return _read(path) if path is not None else None


def shipped_projection(key: str, params: MapParams, folder: str | Path = SHIPPED_DIR) -> Projection | None:
    """A copy of the map shipped for ``key`` with ``params``, or None."""
    found = find_shipped(key, folder)
    proj = found.maps.get(params) if found is not None else None
    if proj is None:
        return None
    return Projection(coords=proj.coords.copy(), method=proj.method, params=dict(proj.params),
                      notes=list(proj.notes), excluded=dict(proj.excluded))


@functools.lru_cache(maxsize=4)
def _index(folder: str) -> dict[str, Path]:
    """key -> file, from the headers only (the arrays are read when a key is asked for)."""
    index = {}
    for path in sorted(Path(folder).glob("*.npz")):
        header = _header(path)
        if header is not None:
            index[header["key"]] = path
    return index


def _header(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # a damaged asset is a cache miss: the app computes instead
        return None
    return header if header.get("format") == FORMAT and isinstance(header.get("key"), str) else None


@functools.lru_cache(maxsize=4)
def _read(path: Path) -> ShippedResults | None:
    header = _header(path)
    if header is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors = data["vectors"] if header.get("vectors") else None
            maps = {MapParams(m["method"], int(m["dims"]), m["perplexity"], int(m["seed"])):
                    Projection(coords=data[m["array"]], method=m["method"], params=m["params"], notes=m["notes"],
                               excluded={int(row): why for row, why in m.get("excluded", {}).items()})
                    for m in header["maps"]}
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    if vectors is not None:
        vectors.setflags(write=False)
    return ShippedResults(key=header["key"], vectors=vectors, maps=maps)
