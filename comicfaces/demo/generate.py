"""Writing the demo comic: pages as PNG and ground truth as COCO JSON."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from comicfaces.demo.characters import CHARACTERS
from comicfaces.demo.page import PageDrawing, draw_page

__all__ = ["DemoComic", "DemoConfig", "face_truth", "generate_demo", "load_demo_truth"]

logger = logging.getLogger(__name__)

TRUTH_NAME = "ground_truth.json"
#: Bumped whenever a change to the drawing code changes the pages, so an old
#: folder is redrawn instead of reused.
GENERATOR_VERSION = 1
_PAGE_PATTERN = re.compile(r"^page\d{2}\.png$")

FACE_BOX_CONVENTION = (
    "from the outer edge of one ear to the outer edge of the other, and from the "
    "hairline (the top of the visible forehead, or where it would be under a hat or on "
    "a bald head) to the bottom of the chin; hair, hats and necks lie outside. Tilted "
    "faces keep the upright box size around the tilted face centre. Boxes are clipped "
    "to their panel."
)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class DemoConfig:
    """Parameters of the demo comic.

    Attributes
    ----------
    n_pages : int
        Number of pages, 1 to 99.
    seed : int
        Seed of every random choice, 0 to 2**32 - 1. The same seed and
        parameters give byte-identical files with the same package versions.
    width, height : int
        Page size in pixels, 600 to 4000 each.
    n_characters : int
        How many characters of the cast appear, 2 to the cast size (7).
    caption_probability : float
        Chance that a page gets one caption box, 0 to 1.
    """

    n_pages: int = 6
    seed: int = 0
    width: int = 1000
    height: int = 1400
    n_characters: int = len(CHARACTERS)
    caption_probability: float = 0.5

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field, its value and the allowed range."""
        ranges = {
            "n_pages": (1, 99),
            "seed": (0, 2**32 - 1),
            "width": (600, 4000),
            "height": (600, 4000),
            "n_characters": (2, len(CHARACTERS)),
        }
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if not _is_int(value) or not low <= value <= high:
                raise ValueError(f"{name}={value!r} is invalid; use an integer from {low} to {high}")
        probability = self.caption_probability
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0.0 <= probability <= 1.0:
            raise ValueError(f"caption_probability={probability!r} is invalid; use a number from 0 to 1")


@dataclass(frozen=True)
class DemoComic:
    """A demo comic on disk.

    Attributes
    ----------
    folder : Path
        Folder holding the pages and the ground truth.
    pages : tuple of Path
        ``page01.png``, ``page02.png``, ... in reading order.
    truth : Path
        The COCO-style ground truth JSON.
    identities : tuple of str
        Names of the characters that appear, in cast order.
    n_faces : int
        Number of face annotations, ignored ones included.
    config : DemoConfig
        Parameters that produced the folder.
    """

    folder: Path
    pages: tuple
    truth: Path
    identities: tuple
    n_faces: int
    config: DemoConfig


def _plan_casts(config: DemoConfig, names: list[str], rng: np.random.Generator) -> list[list[str]]:
    """Choose each page's characters so that every character is on two pages or more.

    Each page takes the characters used least so far (ties broken at random),
    so appearance counts differ by at most one. With ``n_pages >= 2`` the page
    casts are large enough for every character to reach two pages.
    """
    needed = math.ceil(2 * len(names) / config.n_pages) if config.n_pages >= 2 else len(names)
    counts = dict.fromkeys(names, 0)
    casts = []
    for _ in range(config.n_pages):
        size = int(min(len(names), max(needed, rng.integers(3, 6))))
        order = sorted(names, key=lambda name: (counts[name], rng.random()))
        cast = sorted(order[:size], key=names.index)
        for name in cast:
            counts[name] += 1
        casts.append(cast)
    return casts


def _png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _xywh(box) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]


def _truth_document(config: DemoConfig, names: list[str], pages: list[tuple[str, PageDrawing]], hashes: dict) -> dict:
    images, annotations, balloons, panels = [], [], [], []
    for image_id, (file_name, drawing) in enumerate(pages, start=1):
        height, width = drawing.image.shape[:2]
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for index, box in enumerate(drawing.panels):
            panels.append({"id": len(panels) + 1, "image_id": image_id, "panel_index": index, "bbox": _xywh(box)})
        for face in drawing.faces:
            bbox = _xywh(face.box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": bbox,
                    "area": round(bbox[2] * bbox[3], 2),
                    # pycocotools reads only iscrowd as "ignore", so both are set.
                    "iscrowd": int(face.ignore),
                    "ignore": bool(face.ignore),
                    "identity": face.identity,
                    "panel_index": face.panel,
                    "expression": face.expression,
                    "angle": round(face.angle, 2),
                }
            )
        for balloon in drawing.balloons:
            balloons.append(
                {
                    "id": len(balloons) + 1,
                    "image_id": image_id,
                    "bbox": _xywh(balloon.box),
                    "text": balloon.text,
                    "kind": balloon.kind,
                    "tail": None if balloon.tail is None else [round(balloon.tail[0], 2), round(balloon.tail[1], 2)],
                }
            )
    return {
        "info": {
            "description": "comicfaces demo comic, drawn by code",
            "generator": "comicfaces.demo",
            "generator_version": GENERATOR_VERSION,
            "config": asdict(config),
            "face_box_convention": FACE_BOX_CONVENTION,
            "page_sha256": hashes,
        },
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "face"}],
        "identities": names,
        "balloons": balloons,
        "panels": panels,
    }


def _reusable(folder: Path, config: DemoConfig) -> DemoComic | None:
    """Return the demo in ``folder`` when it was made with ``config`` and is intact."""
    truth_path = folder / TRUTH_NAME
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        info = truth["info"]
        if info.get("generator_version") != GENERATOR_VERSION or info.get("config") != asdict(config):
            return None
        pages = [folder / image["file_name"] for image in truth["images"]]
        for page in pages:
            if hashlib.sha256(page.read_bytes()).hexdigest() != info["page_sha256"][page.name]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return DemoComic(
        folder=folder,
        pages=tuple(pages),
        truth=truth_path,
        identities=tuple(truth["identities"]),
        n_faces=len(truth["annotations"]),
        config=config,
    )


def _check_replaceable(folder: Path) -> None:
    """Raise FileExistsError unless ``folder`` is absent or holds only demo files."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder; choose another output folder")
    foreign = sorted(p.name for p in folder.iterdir() if p.name != TRUTH_NAME and not _PAGE_PATTERN.match(p.name))
    if foreign:
        listed = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise FileExistsError(
            f"{folder} contains files that are not part of a demo comic ({listed}); "
            "choose an empty or new folder, because the demo replaces the whole folder"
        )


def _replace_folder(staging: Path, folder: Path) -> None:
    """Move ``staging`` to ``folder``, replacing an old demo folder there."""
    if not folder.exists():
        os.replace(staging, folder)
        return
    retired = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(folder, retired)
    try:
        os.replace(staging, folder)
    except OSError:
        os.replace(retired, folder)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def generate_demo(
    out_dir: str | Path,
    n_pages: int = 6,
    seed: int = 0,
    *,
    width: int = 1000,
    height: int = 1400,
    n_characters: int = len(CHARACTERS),
    caption_probability: float = 0.5,
    reuse: bool = True,
) -> DemoComic:
    """Draw the demo comic and write it to ``out_dir``.

    Writes ``page01.png``, ``page02.png``, ... and ``ground_truth.json`` (COCO
    format with extra ``identity`` and ``ignore`` fields on faces and
    top-level ``balloons``, ``panels`` and ``identities`` lists). Files are
    written to a hidden sibling folder first and then moved into place, so a
    crash leaves either the old folder or the new one.

    Parameters
    ----------
    out_dir : str or Path
        Output folder. It may be absent, empty or hold an earlier demo.
    n_pages, seed, width, height, n_characters, caption_probability
        See :class:`DemoConfig`.
    reuse : bool
        Return an existing demo in ``out_dir`` without drawing when it was
        made with the same parameters and its pages still match their
        recorded SHA-256. With False the folder is always redrawn.

    Returns
    -------
    DemoComic

    Raises
    ------
    ValueError
        For a parameter outside its range (the message names it).
    FileExistsError
        When ``out_dir`` is a file or contains files that a demo does not write.

    Notes
    -----
    Every character appears on at least two pages when ``n_pages >= 2``.
    Drawing takes about 0.25 s of CPU time a page at 1000x1400 (measured on
    one core of an AMD EPYC virtual machine). The same seed gives the same bytes with the
    same numpy, OpenCV and Pillow versions, which draw and compress the pages.
    """
    config = DemoConfig(
        n_pages=n_pages,
        seed=seed,
        width=width,
        height=height,
        n_characters=n_characters,
        caption_probability=caption_probability,
    )
    config.validate()
    # Plain Python numbers, so numpy integers serialise and compare as JSON.
    config = replace(
        config,
        n_pages=int(n_pages),
        seed=int(seed),
        width=int(width),
        height=int(height),
        n_characters=int(n_characters),
        caption_probability=float(caption_probability),
    )
    folder = Path(out_dir).expanduser()
    _check_replaceable(folder)
    if reuse and folder.is_dir():
        existing = _reusable(folder, config)
        if existing is not None:
            logger.info("reusing the demo comic in %s (seed %d, %d pages)", folder, seed, n_pages)
            return existing

    names = [character.name for character in CHARACTERS[: config.n_characters]]
    casts = _plan_casts(config, names, np.random.default_rng([config.seed, 0]))
    logger.info("drawing %d demo pages (seed %d) into %s", config.n_pages, config.seed, folder)

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        pages, hashes = [], {}
        for index, cast in enumerate(casts):
            rng = np.random.default_rng([config.seed, 1, index])
            drawing = draw_page(config.width, config.height, cast, rng, config.caption_probability)
            file_name = f"page{index + 1:02d}.png"
            data = _png_bytes(drawing.image)
            (staging / file_name).write_bytes(data)
            hashes[file_name] = hashlib.sha256(data).hexdigest()
            pages.append((file_name, drawing))

        document = _truth_document(config, names, pages, hashes)
        (staging / TRUTH_NAME).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        _replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    identities = [name for name in names if any(face.identity == name for _, drawing in pages for face in drawing.faces)]
    return DemoComic(
        folder=folder,
        pages=tuple(folder / file_name for file_name, _ in pages),
        truth=folder / TRUTH_NAME,
        identities=tuple(identities),
        n_faces=len(document["annotations"]),
        config=config,
    )


def load_demo_truth(path: str | Path) -> dict:
    """Read a demo ground truth file (or the one inside a demo folder).

    Returns the parsed JSON document. Raises FileNotFoundError when it is
    missing and ValueError, naming the file, when it is not a demo ground truth.
    """
    path = Path(path)
    if path.is_dir():
        path = path / TRUTH_NAME
    if not path.is_file():
        raise FileNotFoundError(f"demo ground truth not found: {path}; run generate_demo first")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    missing = [key for key in ("images", "annotations", "categories", "balloons", "panels") if key not in document]
    if missing:
        raise ValueError(f"{path}: not a demo ground truth, missing keys {missing}")
    return document


def face_truth(document: dict, file_name: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Return one page's face boxes ``(x0, y0, x1, y1)``, identities and ignore flags.

    Raises KeyError when no image in ``document`` has that ``file_name``.
    """
    image_ids = [image["id"] for image in document["images"] if image["file_name"] == file_name]
    if not image_ids:
        raise KeyError(f"no page named {file_name!r} in the ground truth")
    faces = [a for a in document["annotations"] if a["image_id"] == image_ids[0]]
    boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in faces], dtype=np.float64)
    return boxes.reshape(-1, 4), [a["identity"] for a in faces], np.array([bool(a.get("ignore", False)) for a in faces])
