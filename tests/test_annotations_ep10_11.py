"""Checks of the Pepper&Carrot episode 10 and 11 face ground truth in annotations/.

The tests come from annotation_checks.py, and this module declares what each file contains.
"""

from annotation_checks import *  # noqa: F403 (the shared tests)
from annotation_checks import AnnotationFile

# Per page: (all boxes, boxes with ignore: true, boxes of each identity).
FILES = [
    AnnotationFile(
        "faces_ep10.json",
        "peppercarrot",
        pages={
            "ep10/en/E10P01.jpg": (6, 0, {"Pepper": 3, "Carrot": 3}),
            "ep10/en/E10P02.jpg": (2, 0, {"ep10_monster_fish": 2}),
            "ep10/en/E10P03.jpg": (15, 9, {"extra": 9, "Pepper": 3, "Carrot": 3}),
            "ep10/en/E10P04.jpg": (11, 1, {"extra": 7, "Carrot": 2, "ep10_monster_fish": 1, "Pepper": 1}),
            "ep10/en/E10P05.jpg": (20, 3, {"extra": 15, "Carrot": 2, "Pepper": 2, "ep10_monster_fish": 1}),
        },
        ignored={"extra": 11, "Pepper": 1, "Carrot": 1},
    ),
    AnnotationFile(
        "faces_ep11.json",
        "peppercarrot",
        pages={
            "ep11/en/E11P01.jpg": (5, 0, {"Cayenne": 1, "Thyme": 1, "Cumin": 1, "Pepper": 1, "Carrot": 1}),
            "ep11/en/E11P02.jpg": (10, 0, {"Thyme": 3, "Pepper": 2, "Carrot": 2, "Cumin": 2, "Cayenne": 1}),
            "ep11/en/E11P03.jpg": (6, 0, {"Cumin": 2, "Pepper": 2, "Carrot": 2}),
            "ep11/en/E11P04.jpg": (8, 1, {"Pepper": 3, "ep11_king": 2, "Carrot": 1, "Cumin": 1, "extra": 1}),
            "ep11/en/E11P05.jpg": (8, 1, {"Pepper": 2, "Carrot": 2, "Cumin": 2, "ep11_king": 1, "extra": 1}),
            "ep11/en/E11P06.jpg": (
                8,
                1,
                {"Pepper": 3, "ep11_king": 1, "Cayenne": 1, "Thyme": 1, "Carrot": 1, "extra": 1},
            ),
        },
        ignored={"extra": 3},
    ),
]

