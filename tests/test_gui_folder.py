"""Stepping through a folder of images (File ▸ Next / Previous image in the folder) and
Encode ▸ Encode each image on opening: an engineer going through Kodak image by image."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from gui_support import make_window, wait_idle, write_png  # noqa: E402

from mspviewer.gui.file_actions import ENCODE_ON_OPEN_KEY, folder_images, natural_key  # noqa: E402


@pytest.fixture
def folder(tmp_path) -> Path:
    """Images numbered as Kodak's would be without zero padding, among files that are not
    images: a text file, a folder named like an image and a bitstream."""
    folder = tmp_path / "images"
    folder.mkdir()
    for seed, name in enumerate(("img1.png", "img2.PNG", "img10.png", "Img3.jpg")):
        write_png(folder / name, 32, 48, seed=seed)  # (a PNG in a .jpg: read by content)
    (folder / "notes.txt").write_text("not an image")
    (folder / "img4.png").mkdir()
    return folder


def test_images_are_in_name_order_with_numbers_by_value(folder):
    assert [path.name for path in folder_images(folder)] == ["img1.png", "img2.PNG",
                                                             "Img3.jpg", "img10.png"]
    assert sorted(["kodim10", "kodim2", "Kodim1", "kodim2b", "kodim"], key=natural_key) == [
        "kodim", "Kodim1", "kodim2", "kodim2b", "kodim10"]


def test_next_and_previous_step_through_the_folder(qtbot, tiny_model, tmp_path, folder):
    from PySide6.QtGui import QAction

    window = make_window(qtbot, tiny_model, tmp_path)
    assert not window.open_neighbour(1)  # nothing open
    assert "Open an image first" in window.messages.text()
    window.open_image(folder / "img2.PNG")

    def step(direction: int) -> str:
        window.open_neighbour(direction)
        wait_idle(qtbot, window)
        return window.session.image.path.name

    assert [step(1), step(1)] == ["Img3.jpg", "img10.png"]
    assert not window.open_neighbour(1)  # the last one: it stays
    assert window.session.image.path.name == "img10.png"
    assert "img10.png is the last image in" in window.messages.text()
    assert [step(-1), step(-1), step(-1)] == ["Img3.jpg", "img2.PNG", "img1.png"]
    assert not window.open_neighbour(-1) and "is the first image" in window.messages.text()
    # the pixels are the new file's, not a label on the old ones
    from mspviewer.imageio import load_image

    step(1)
    assert (window.session.image.pixels == load_image(folder / "img2.PNG").pixels).all()
    # a crop steps from its whole image's file, and the next image opens whole
    window.set_image(window.session.image.cropped(0, 0, 24, 16))
    assert window.session.image.crop is not None
    assert step(1) == "Img3.jpg" and window.session.image.crop is None
    assert (window.session.image.width, window.session.image.height) == (48, 32)
    # the File menu's entries, with their keys
    actions = {action.text(): action for action in window.findChildren(QAction)}
    next_action = actions["&Next image in the folder"]
    assert next_action.shortcut().toString() == "Ctrl+PgDown"
    assert actions["Pre&vious image in the folder"].shortcut().toString() == "Ctrl+PgUp"
    next_action.trigger()
    wait_idle(qtbot, window)
    assert window.session.image.path.name == "img10.png"


def test_stepping_goes_past_a_file_that_cannot_be_read(qtbot, tiny_model, tmp_path, folder):
    """A corrupt image in the folder stopped every step at it: each press tried it again.
    Steps go on from the file last stepped to, whether it opened or not; and names that
    differ in case only are each met once."""
    (folder / "img5.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write_png(folder / "IMG6.png", 32, 48, seed=7)
    write_png(folder / "img6.png", 32, 48, seed=8)
    window = make_window(qtbot, tiny_model, tmp_path)
    window.open_image(folder / "Img3.jpg")
    names = []
    for _ in range(4):
        window.open_neighbour(1)
        wait_idle(qtbot, window)
        names.append(window.session.image.path.name)
    # (img5.png failed, with its message: Img3.jpg stayed, and the next step went past it)
    assert names == ["Img3.jpg", "IMG6.png", "img6.png", "img10.png"]
    assert any("img5.png" in error for error in window.errors)
    assert not window.open_neighbour(1)  # the end
    # and back, past it again
    names = []
    for _ in range(3):
        window.open_neighbour(-1)
        wait_idle(qtbot, window)
        names.append(window.session.image.path.name)
    assert names == ["img6.png", "IMG6.png", "IMG6.png"]  # (img5.png failed: IMG6 stays)
    window.open_neighbour(-1)
    wait_idle(qtbot, window)
    assert window.session.image.path.name == "Img3.jpg"


def test_a_stream_opened_alone_steps_to_the_images_after_it(qtbot, tiny_model, tmp_path,
                                                           folder):
    from mspviewer.codec.api import PLAIN_PROFILE, encode_image
    from mspviewer.imageio import load_image

    pixels = load_image(folder / "img1.png").pixels
    (folder / "img1b.msp").write_bytes(encode_image(tiny_model, pixels, 0.01,
                                                    PLAIN_PROFILE).bitstream)
    window = make_window(qtbot, tiny_model, tmp_path)
    window.open_path(folder / "img1b.msp")
    wait_idle(qtbot, window)
    assert window.session.image is None and window.session.result is not None
    window.open_neighbour(1)
    wait_idle(qtbot, window)
    assert window.session.image.path.name == "img2.PNG"


def test_encode_each_image_on_opening(qtbot, tiny_model, tmp_path, folder):
    window = make_window(qtbot, tiny_model, tmp_path)
    assert not window.encode_on_open_action.isChecked()  # (off at first)
    window.open_image(folder / "img1.png")
    wait_idle(qtbot, window)
    assert window.session.result is None
    window.encode_on_open_action.trigger()  # (as the menu does)
    assert window.settings.value(ENCODE_ON_OPEN_KEY, type=bool)
    window.open_neighbour(1)
    wait_idle(qtbot, window)
    result = window.session.result
    assert result is not None and result.source == "encode"
    assert (result.original == window.session.image.pixels).all()
    assert window.session.image.path.name == "img2.PNG"
    # kept in the settings: a window opened later encodes on opening too
    window.close()
    again = make_window(qtbot, tiny_model, tmp_path)
    assert again.encode_on_open_action.isChecked()
    again.set_encode_on_open(False)
    again.open_image(folder / "img10.png")
    wait_idle(qtbot, again)
    assert again.session.result is None


def test_encode_on_opening_waits_for_no_model_load(qtbot, tiny_model, tmp_path, folder,
                                                   monkeypatch):
    """While a model loads an encode is refused with an error: each image stepped to had
    brought one."""
    window = make_window(qtbot, tiny_model, tmp_path)
    window.set_encode_on_open(True)
    monkeypatch.setattr(window, "loading_model", lambda: object())  # (a load in progress)
    window.open_image(folder / "img1.png")
    wait_idle(qtbot, window)
    assert window.session.image is not None and window.session.result is None
    assert window.errors == []
    # once the model has loaded, the image is encoded
    monkeypatch.undo()
    window._model_loaded(tmp_path / "tiny.pt", tiny_model)
    wait_idle(qtbot, window)
    assert window.session.result is not None and window.errors == []
