"""A failed upload says why in the main area, in one line, where the user looks; the progress box is gone.

Each case drops files the way a visitor would (the sidebar's uploaders) and finds the message in the main
area (never only in the sidebar, below the fold), with no "Reading …" box left behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from file_helpers import png_bytes, zip_bytes  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")






def _uploads() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["fse_kind"] = "upload"  # straight to the uploader: no demo mapped first
    at.run()
    return at


def _plain(markdown: str) -> str:
    """Markdown as read: user text in messages is escaped (backslashes, word joiners around dots)."""
    return markdown.replace("\u2060", "").replace("\\", "")


def _main_errors(at: AppTest) -> list[str]:
    return [_plain(e.value) for e in at.main.error]


def _no_progress_left(at: AppTest) -> None:
    texts = [str(getattr(el, "label", "")) + str(getattr(el, "value", "")) for el in at.main]
    assert not any("Reading" in t for t in texts), texts
    assert not at.sidebar.error  # the message is in the main area, not below the fold in the sidebar


def test_a_text_file_renamed_jpg_fails_in_the_main_area_in_one_line():
    at = _uploads()
    at.file_uploader(key="fse_uploader_0").set_value([("holiday.jpg", b"just some text, not a picture",
                                                      "image/jpeg")]).run()
    at.text_input(key="fse_upload_tag").set_value("beach").run()
    at.button(key="fse_add").click().run()
    assert not at.exception
    (message,) = _main_errors(at)
    assert message.startswith("Nothing could be added:") and "holiday" in message and "\n" not in message
    _no_progress_left(at)
    at.run()  # another run (any widget): the failure stays until the next action
    assert _main_errors(at) == [message]


@pytest.mark.parametrize("members, words", [
    ({"photos/": None, "photos/rock/": None, "photos/paper/": None}, "holds no images (only empty folders)"),
    ({"1.png": png_bytes(1), "2.png": png_bytes(2)}, "has no tag folders"),
])
def test_a_zip_that_would_add_nothing_or_only_untagged_images_says_the_layout_expected(members, words):
    at = _uploads()
    at.file_uploader(key="fse_uploader_0").set_value([("drop.zip", zip_bytes(members), "application/zip")]).run()
    assert not at.exception
    (message,) = _main_errors(at)
    assert words in message and "Expected one folder per tag" in message and "\n" not in message
    assert at.button(key="fse_add").disabled  # nothing to add as it is
    _no_progress_left(at)


def test_a_folder_without_tag_sub_folders_says_the_layout_expected_and_a_typed_tag_fixes_it():
    at = _uploads()
    at.file_uploader(key="fse_folder_0").set_value([("holiday/1.png", png_bytes(1), "image/png"),
                                                   ("holiday/2.png", png_bytes(2), "image/png")]).run()
    (message,) = _main_errors(at)
    assert "holiday has no tag sub-folders" in message and "holiday/rock/1.jpg" in message
    at.text_input(key="fse_upload_tag").set_value("beach").run()
    assert not _main_errors(at) or _main_errors(at) == [message]  # drawn from the last run's drop
    at.button(key="fse_add").click().run()
    assert not at.exception and not _main_errors(at)
    assert any("beach: 2 images" in t.value for t in at.sidebar.text)


def test_a_folder_of_tag_folders_shows_its_counts_before_adding():
    at = _uploads()
    files = [(f"photos/{tag}/{i}.png", png_bytes(10 * k + i), "image/png")
             for k, (tag, n) in enumerate((("rock", 3), ("paper", 2))) for i in range(n)]
    at.file_uploader(key="fse_folder_0").set_value(files + [("photos/notes.txt", b"x", "text/plain")]).run()
    lines = [t.value for t in at.sidebar.text]
    assert "rock: 3 images to add" in lines and "paper: 2 images to add" in lines
    assert any("notes.txt" in _plain(c.value) for c in at.sidebar.caption)
    at.button(key="fse_add").click().run()
    assert not at.exception and not _main_errors(at)
    assert any("5 images · 2 tags" in c.value for c in at.sidebar.caption)
