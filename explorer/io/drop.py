"""What a drop of files, folders and ZIPs holds, read from names alone: each image's tag and the counts per tag.

A browser sends the files of a chosen folder with their paths below the folder's parent
(``photos/rock/1.jpg``). As for a folder on the server and for a ZIP, the first level of folders below
the chosen folder names the tags; images at the top of the chosen folder, and loose files dropped on
their own, take the tag the user typed. A ZIP's members are counted from its central directory. Nothing
is decoded here, so the counts can be shown before "Add to set"; :func:`explorer.io.sources.load_uploads`
then decodes the :attr:`DropPlan.uploads`, each carrying its tag.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Sequence

from explorer import limits
from explorer.imageset import UNTAGGED, SkippedFile
from explorer.io.sources import Upload, display_name, is_junk, wrapper_depth
from explorer.words import plural

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class DropPlan:
    """A drop, sorted before decoding.

    ``uploads``: what to decode, each with its tag (a ZIP carries the tag of its top-level members);
    ``counts``: images per tag, ZIP members included, in first-seen order; ``skipped``: files that are not
    images, by name; ``problem``: one line saying why the drop cannot be added as it is ("" when it can).
    """

    uploads: tuple[Upload, ...]
    counts: dict[str, int]
    skipped: tuple[SkippedFile, ...]
    problem: str = ""

    @property
    def images(self) -> int:
        return sum(self.counts.values())


def _parts(name: str) -> list[str]:
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _layout_hint(name: str) -> str:
    return (f"Expected one folder per tag: {name}/rock/1.jpg, {name}/paper/2.jpg, … (or type a tag for all of "
            "its images).")


def plan_drop(files: Sequence[tuple[str, bytes]], typed_tag: str = "", *,
              max_zip_entries: int = limits.ZIP_MAX_ENTRIES) -> DropPlan:
    """Sort dropped ``(name, bytes)`` files into a :class:`DropPlan`; ``typed_tag`` is the tag field.

    A chosen folder without tag sub-folders, or a ZIP without tag folders, is a ``problem`` unless a tag
    was typed (it then applies to all of their images): nothing is added as "untagged" without saying so.
    """
    typed = typed_tag.strip()
    loose_tag = typed or UNTAGGED
    uploads: list[Upload] = []
    counts: dict[str, int] = {}
    skipped: list[SkippedFile] = []
    folders: dict[str, bool] = {}  # chosen folder -> holds a tag sub-folder
    for name, data in files:
        parts = _parts(name)
        if not parts or any(is_junk(p) for p in parts):
            continue
        shown = display_name("/".join(parts))
        suffix = PurePosixPath(parts[-1]).suffix.lower()
        if suffix == ".zip":
            zip_counts, zip_skipped, problem = _zip_counts(data, shown, typed, max_zip_entries)
            if problem:
                return DropPlan(tuple(uploads), counts, tuple(skipped), problem)
            uploads.append(Upload(name=name, data=data, tag=typed))
            for tag, n in zip_counts.items():
                counts[tag] = counts.get(tag, 0) + n
            skipped += zip_skipped
            continue
        if suffix not in IMAGE_SUFFIXES:
            skipped.append(SkippedFile(shown, f"not an image ({suffix or 'no extension'})"))
            continue
        if len(parts) > 1:
            folders.setdefault(parts[0], False)
        tag = loose_tag
        if len(parts) > 2:  # chosen folder / tag folder / ... / image
            folders[parts[0]] = True
            tag = display_name(parts[1])
        uploads.append(Upload(name="/".join(parts), data=data, tag=tag))
        counts[tag] = counts.get(tag, 0) + 1
    bare = [f for f, tagged in folders.items() if not tagged]
    if bare and not typed:
        name = display_name(bare[0])
        return DropPlan(tuple(uploads), counts, tuple(skipped),
                        f"The folder {name} has no tag sub-folders. {_layout_hint(name)}")
    if not sum(counts.values()):
        what = ", ".join(s.file for s in skipped[:3]) + (", …" if len(skipped) > 3 else "")
        problem = f"No images to add: {what} {'is' if len(skipped) == 1 else 'are'} not images." if skipped else \
            "No images to add."
        return DropPlan(tuple(uploads), counts, tuple(skipped), problem)
    return DropPlan(tuple(uploads), counts, tuple(skipped))


def _zip_counts(data: bytes, shown: str, typed: str, max_entries: int) -> tuple[dict[str, int], list[SkippedFile], str]:
    """Images per tag in a ZIP, from its directory, with the same folder rules as the loader's."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return {}, [], f"{shown} is not a readable ZIP archive."
    with archive:
        infos = archive.infolist()
        if len(infos) > max_entries:
            return {}, [], f"{shown} has {len(infos):,} entries, more than the {max_entries:,} a ZIP may hold here."
        members = []
        skipped = []
        for info in infos:
            parts = _parts(info.filename)
            if info.is_dir() or not parts or any(is_junk(p) for p in parts):
                continue
            if PurePosixPath(parts[-1]).suffix.lower() in IMAGE_SUFFIXES:
                members.append(parts)
            else:
                skipped.append(SkippedFile(display_name(f"{shown}/{'/'.join(parts)}"), "not an image"))
    if not members:
        empty = "only empty folders" if any(i.is_dir() for i in infos) else "no files"
        return {}, skipped, f"{shown} holds no images ({empty}). {_layout_hint(shown)}"
    strip = wrapper_depth(members)
    if all(len(p) - strip == 1 for p in members) and not typed:
        return {}, skipped, f"{shown} has no tag folders: its {plural(len(members), 'image')} would be untagged. " \
                            + _layout_hint(shown)
    counts: dict[str, int] = {}
    for parts in members:
        tag = display_name(parts[strip]) if len(parts) - strip > 1 else (typed or UNTAGGED)
        counts[tag] = counts.get(tag, 0) + 1
    return counts, skipped, ""
