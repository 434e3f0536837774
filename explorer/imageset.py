"""The in-memory record of a loaded, tagged image set and of the files that were skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

UNTAGGED = "untagged"


@dataclass(frozen=True)
class SkippedFile:
    """A file that could not be loaded: its display name and a plain-words reason."""

    file: str
    reason: str


@dataclass
class ImageSet:
    """A loaded tagged image set, stored column-wise so embedders work on one stacked array.

    ids : list of str, length n
        Unique, stable per image: the content hash (``hashes[i]``), suffixed ``~2``, ``~3``... for
        repeated content so rows stay addressable.
    hashes : list of str, length n
        SHA-256 (hex) of the file bytes; the key of the embedding cache.
    sources : list of str, length n
        Display names: relative path, archive member or upload name (sanitised text, never a path to open).
    tags : list of str, length n
        The primary tag of each image.
    extra_tags : dict of str -> list of str
        Other tag columns (e.g. a manifest's fine label), each of length n.
    pixels : ndarray of shape (n, S, S, 3), uint8
        Images normalised for embedding: RGB, letter-boxed onto a square of side S.
    thumbnails : list of bytes, length n
        Small JPEG thumbnails (aspect kept) for display.
    notes : list of str, length n
        Per-image remarks worth showing ("first frame of 12", "16-bit rescaled"), "" when none.
    skipped : list of SkippedFile
        Everything that was not loaded, with the reason.
    name : str
        Where the set came from ("demo:hands", a folder name, ...).
    """

    ids: list[str]
    hashes: list[str]
    sources: list[str]
    tags: list[str]
    pixels: np.ndarray
    thumbnails: list[bytes]
    notes: list[str] = field(default_factory=list)
    extra_tags: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)
    name: str = ""

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not self.notes:
            self.notes = [""] * n
        lengths = {len(self.hashes), len(self.sources), len(self.tags), len(self.thumbnails),
                   len(self.notes), self.pixels.shape[0]}
        lengths |= {len(v) for v in self.extra_tags.values()}
        if lengths != {n}:
            raise ValueError(f"ImageSet columns disagree in length: {sorted(lengths)} (ids: {n})")
        if self.pixels.ndim != 4 or self.pixels.shape[3] != 3 or self.pixels.dtype != np.uint8:
            raise ValueError(f"pixels must be uint8 of shape (n, S, S, 3), got {self.pixels.dtype} {self.pixels.shape}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def image_size(self) -> int:
        return int(self.pixels.shape[1])

    def tag_counts(self) -> dict[str, int]:
        """Images per primary tag, in first-seen order."""
        counts: dict[str, int] = {}
        for tag in self.tags:
            counts[tag] = counts.get(tag, 0) + 1
        return counts

    def tag_column(self, column: str | None = None) -> list[str]:
        """The primary tags (``column`` None or "tag") or one of the extra tag columns."""
        if column in (None, "tag"):
            return self.tags
        if column not in self.extra_tags:
            raise KeyError(f"unknown tag column {column!r}; available: {['tag', *self.extra_tags]}")
        return self.extra_tags[column]

    def subset(self, indices) -> "ImageSet":
        """A new ImageSet with the rows at ``indices`` (skipped files are kept)."""
        idx = [int(i) for i in np.asarray(indices).ravel()]
        pick = lambda seq: [seq[i] for i in idx]  # noqa: E731
        return ImageSet(ids=pick(self.ids), hashes=pick(self.hashes), sources=pick(self.sources),
                        tags=pick(self.tags), pixels=self.pixels[idx], thumbnails=pick(self.thumbnails),
                        notes=pick(self.notes), extra_tags={k: pick(v) for k, v in self.extra_tags.items()},
                        skipped=list(self.skipped), name=self.name)

    @staticmethod
    def concatenate(sets: "list[ImageSet]", name: str = "") -> "ImageSet":
        """Join sets of the same image size into one; ids are re-made unique; extra columns padded with ''."""
        if not sets:
            raise ValueError("nothing to concatenate")
        sizes = {s.image_size for s in sets if len(s)}
        if len(sizes) > 1:
            raise ValueError(f"cannot join image sets of different image sizes {sorted(sizes)}")
        columns = [c for s in sets for c in s.extra_tags]
        columns = list(dict.fromkeys(columns))
        hashes = [h for s in sets for h in s.hashes]
        size = sizes.pop() if sizes else sets[0].image_size
        pixels = np.concatenate([s.pixels for s in sets]) if sum(map(len, sets)) else np.zeros((0, size, size, 3), np.uint8)
        return ImageSet(ids=unique_ids(hashes), hashes=hashes,
                        sources=[x for s in sets for x in s.sources], tags=[x for s in sets for x in s.tags],
                        pixels=pixels, thumbnails=[x for s in sets for x in s.thumbnails],
                        notes=[x for s in sets for x in s.notes],
                        extra_tags={c: [x for s in sets for x in s.extra_tags.get(c, [""] * len(s))] for c in columns},
                        skipped=[x for s in sets for x in s.skipped], name=name or "+".join(s.name for s in sets))


def tag_order(tags) -> list[str]:
    """The distinct tags as text, in first-seen order: the one order of legends, colours and tag charts."""
    return list(dict.fromkeys(str(t) for t in tags))


def tag_codes(tags, n: int | None = None, *, name: str = "tags") -> tuple[np.ndarray, list[str]]:
    """(int64 code per row (n,), ``tag_order(tags)``); ValueError naming ``name`` when ``n`` rows disagree."""
    text = [str(t) for t in tags]
    if n is not None and len(text) != n:
        raise ValueError(f"{name} has {len(text)} entries but there are {n} vectors")
    order = list(dict.fromkeys(text))
    index = {t: i for i, t in enumerate(order)}
    return np.array([index[t] for t in text], dtype=np.int64), order


def unique_ids(hashes: list[str], length: int = 16) -> list[str]:
    """Short content-hash ids, suffixed ``~2``, ``~3`` ... where the same content repeats."""
    seen: dict[str, int] = {}
    ids = []
    for h in hashes:
        short = h[:length]
        seen[short] = seen.get(short, 0) + 1
        ids.append(short if seen[short] == 1 else f"{short}~{seen[short]}")
    return ids
