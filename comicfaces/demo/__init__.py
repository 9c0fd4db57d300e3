"""A demo comic drawn by code, with ground truth, for trying the pipeline offline.

The project ships no third-party images, so :func:`generate_demo` paints its
own pages: panel grids, scenery, speech balloons with lettered text and seven
recurring characters whose faces real face detectors find. The ground truth
(faces with identities, balloons with text, panels) is written as COCO JSON
beside the pages, so the whole pipeline and its metrics run on a fresh machine.

>>> from comicfaces.demo import generate_demo
>>> comic = generate_demo("demo_comic", n_pages=2, seed=0)  # doctest: +SKIP
"""

from comicfaces.demo.characters import CHARACTERS, EXPRESSIONS, Character, FaceSprite, character_names, draw_face
from comicfaces.demo.generate import (
    FACE_BOX_CONVENTION,
    TRUTH_NAME,
    DemoComic,
    DemoConfig,
    face_truth,
    generate_demo,
    load_demo_truth,
)

__all__ = [
    "CHARACTERS",
    "EXPRESSIONS",
    "FACE_BOX_CONVENTION",
    "TRUTH_NAME",
    "Character",
    "DemoComic",
    "DemoConfig",
    "FaceSprite",
    "character_names",
    "draw_face",
    "face_truth",
    "generate_demo",
    "load_demo_truth",
]
