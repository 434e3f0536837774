"""explorer.io.drop: a drop of folders, loose images and ZIPs sorted by name into tags, before decoding."""

from __future__ import annotations


import pytest

from explorer.imageset import UNTAGGED
from explorer.io.drop import plan_drop
from explorer.io.sources import load_uploads
from file_helpers import png_bytes, zip_bytes  # noqa: E402






def test_a_chosen_folder_tags_each_image_by_its_first_level_sub_folder():
    files = [(f"photos/{tag}/{i}.png", png_bytes(i, (24, 24))) for tag, n in (("rock", 3), ("paper", 2), ("scissors", 1))
             for i in range(n)]
    files += [("photos/rock/deeper/9.png", png_bytes(9, (24, 24))), ("photos/notes.txt", b"hello"), ("photos/.DS_Store", b"x")]
    plan = plan_drop(files, "ignored for tagged folders")
    assert plan.problem == ""
    assert plan.counts == {"rock": 4, "paper": 2, "scissors": 1}  # nested deeper still belongs to rock
    assert [(s.file, s.reason) for s in plan.skipped] == [("photos/notes.txt", "not an image (.txt)")]
    images = load_uploads(plan.uploads)
    assert sorted(set(images.tags)) == ["paper", "rock", "scissors"] and len(images) == 7
    assert sorted(t for s, t in zip(images.sources, images.tags) if s == "0.png") == ["paper", "rock", "scissors"]
    assert len(set(images.ids)) == 7  # three 0.png files, three ids


def test_several_folders_and_loose_images_in_one_drop_loose_ones_take_the_typed_tag():
    files = [("a/cat/1.png", png_bytes(1, (24, 24))), ("b/dog/2.png", png_bytes(2, (24, 24))), ("b/dog/3.png", png_bytes(3, (24, 24))),
             ("loose.png", png_bytes(4, (24, 24))), ("a/top-level.png", png_bytes(5, (24, 24)))]
    plan = plan_drop(files, " bird ")
    assert plan.problem == "" and plan.counts == {"cat": 1, "dog": 2, "bird": 2}
    assert plan.images == 5
    untyped = plan_drop([("loose.png", png_bytes(4, (24, 24)))], "")
    assert untyped.problem == "" and untyped.counts == {UNTAGGED: 1}  # a loose file as before: untagged


def test_a_folder_without_tag_sub_folders_says_what_layout_is_expected():
    plan = plan_drop([("holiday/1.png", png_bytes(1, (24, 24))), ("holiday/2.png", png_bytes(2, (24, 24)))], "")
    assert "holiday has no tag sub-folders" in plan.problem and "holiday/rock/1.jpg" in plan.problem
    assert plan_drop([("holiday/1.png", png_bytes(1, (24, 24)))], "beach").counts == {"beach": 1}  # a typed tag takes them all


def test_zip_counts_come_from_its_directory_with_the_loaders_folder_rules():
    data = zip_bytes({"set/rock/1.png": png_bytes(1, (24, 24)), "set/rock/2.png": png_bytes(2, (24, 24)), "set/paper/3.png": png_bytes(3, (24, 24)),
                 "set/readme.md": b"hi", "__MACOSX/set/._1.png": b"junk"})
    plan = plan_drop([("set.zip", data)], "")
    assert plan.problem == "" and plan.counts == {"rock": 2, "paper": 1}
    assert [s.file for s in plan.skipped] == ["set.zip/set/readme.md"]
    loaded = load_uploads(plan.uploads)
    assert {t: loaded.tags.count(t) for t in set(loaded.tags)} == plan.counts


@pytest.mark.parametrize("members, words", [
    ({"empty/": None, "empty/rock/": None, "empty/paper/": None}, "holds no images (only empty folders)"),
    ({"1.png": png_bytes(1, (24, 24)), "2.png": png_bytes(2, (24, 24))}, "has no tag folders: its 2 images would be untagged"),
])
def test_a_zip_that_would_add_nothing_or_only_untagged_images_is_refused_with_the_layout(members, words):
    plan = plan_drop([("drop.zip", zip_bytes(members))], "")
    assert words in plan.problem and "drop.zip/rock/1.jpg" in plan.problem


def test_a_damaged_zip_and_a_drop_of_no_images_are_one_line_problems():
    assert plan_drop([("x.zip", b"not a zip")], "").problem == "x.zip is not a readable ZIP archive."
    plan = plan_drop([("a/notes.txt", b"x"), ("a/data.csv", b"y")], "")
    assert plan.problem == "No images to add: a/notes.txt, a/data.csv are not images."
    assert "\n" not in plan.problem
