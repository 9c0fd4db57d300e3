"""Reading pages: formats, modes, bad files, folders and CBZ archives."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from comicfaces.imageio import (
    MAX_SIDE,
    ImageLoadError,
    decode_image,
    list_pages,
    load_image,
    load_page,
    natural_key,
)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def page(rng) -> Image.Image:
    return Image.fromarray(rng.integers(0, 255, (60, 40, 3), dtype=np.uint8))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF", "BMP"])
def test_decode_formats_give_rgb(page, fmt):
    image, scale = decode_image(_encode(page, fmt), f"page.{fmt.lower()}")
    assert image.shape == (60, 40, 3)
    assert image.dtype == np.uint8
    assert scale == 1.0


def test_decode_grayscale_to_three_channels(page):
    image, _ = decode_image(_encode(page.convert("L"), "PNG"), "gray.png")
    assert image.shape == (60, 40, 3)
    assert np.array_equal(image[..., 0], image[..., 2])


def test_decode_rgba_composites_on_white():
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    image, _ = decode_image(_encode(rgba, "PNG"), "transparent.png")
    assert image[0, 0].tolist() == [255, 255, 255]


def test_decode_16bit_scales_to_8bit():
    array = np.full((20, 20), 65535, dtype=np.uint16)
    array[:10] = 0
    image, _ = decode_image(_encode(Image.fromarray(array), "PNG"), "deep.png")
    assert image[0, 0, 0] == 0
    assert image[-1, -1, 0] == 255


def test_decode_cmyk_jpeg(page):
    image, _ = decode_image(_encode(page.convert("CMYK"), "JPEG"), "cmyk.jpg")
    assert image.shape == (60, 40, 3)


def test_decode_empty_file_names_it():
    with pytest.raises(ImageLoadError, match="empty.png: file is empty"):
        decode_image(b"", "empty.png")


def test_decode_not_an_image_names_it():
    with pytest.raises(ImageLoadError, match="notes.png: not a readable image"):
        decode_image(b"these are notes, not pixels", "notes.png")


def test_decode_truncated_jpeg(page):
    data = _encode(page.resize((400, 400)), "JPEG")
    with pytest.raises(ImageLoadError, match="cut.jpg"):
        decode_image(data[: len(data) // 3], "cut.jpg")


def test_decode_one_pixel_image_rejected():
    with pytest.raises(ImageLoadError, match="1x1 pixels"):
        decode_image(_encode(Image.new("RGB", (1, 1)), "PNG"), "dot.png")


def test_decode_huge_page_downscaled():
    wide = Image.new("RGB", (20000, 300), (250, 250, 250))
    image, scale = decode_image(_encode(wide, "PNG"), "wide.png")
    assert max(image.shape[:2]) == MAX_SIDE
    assert scale == pytest.approx(MAX_SIDE / 20000)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_natural_order():
    names = ["page10.png", "page9.png", "Page1.png"]
    assert sorted(names, key=natural_key) == ["Page1.png", "page9.png", "page10.png"]


def test_list_folder_recursive_natural(tmp_path, page):
    (tmp_path / "ch1").mkdir()
    for name in ["ch1/page10.png", "ch1/page9.png", "cover.jpg", ".hidden.png", "notes.txt"]:
        (tmp_path / name).write_bytes(_encode(page, "PNG"))
    ids = [p.page_id for p in list_pages(tmp_path)]
    assert ids == ["ch1/page9.png", "ch1/page10.png", "cover.jpg"]


def test_list_empty_folder(tmp_path):
    assert list_pages(tmp_path) == []


def test_list_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_pages(tmp_path / "nowhere")


def test_list_unsupported_file(tmp_path):
    path = tmp_path / "story.pdf"
    path.write_bytes(b"%PDF")
    with pytest.raises(ImageLoadError, match="unsupported file type"):
        list_pages(path)


def test_cbz_pages_in_natural_order(tmp_path, page):
    archive = tmp_path / "book.cbz"
    with zipfile.ZipFile(archive, "w") as cbz:
        for name in ["p10.png", "p2.png", "ComicInfo.xml"]:
            cbz.writestr(name, _encode(page, "PNG"))
    pages = list_pages(archive)
    assert [p.page_id for p in pages] == ["book.cbz/p2.png", "book.cbz/p10.png"]
    image, _ = load_page(pages[0])
    assert image.shape == (60, 40, 3)


@pytest.mark.parametrize("member", ["../evil.png", "/etc/evil.png", "a/../../evil.png", "C:/evil.png"])
def test_cbz_unsafe_member_rejected(tmp_path, page, member):
    archive = tmp_path / "bad.cbz"
    with zipfile.ZipFile(archive, "w") as cbz:
        cbz.writestr(member, _encode(page, "PNG"))
    with pytest.raises(ImageLoadError, match="absolute path or '..'"):
        list_pages(archive)


def test_cbz_corrupt_archive(tmp_path):
    archive = tmp_path / "broken.cbz"
    archive.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ImageLoadError, match="broken.cbz"):
        list_pages(archive)
