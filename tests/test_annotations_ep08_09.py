"""Checks of the Pepper&Carrot episode 08 and 09 face ground truth in annotations/.

The tests come from annotation_checks.py, and this module declares what each file contains.
"""

from annotation_checks import *  # noqa: F403 (the shared tests)
from annotation_checks import AnnotationFile

# Per page: (all boxes, boxes with ignore: true, boxes of each identity).
FILES = [
    AnnotationFile(
        "faces_ep08.json",
        "peppercarrot",
        pages={
            "ep08/en/E08P01.jpg": (9, 4, {"Pepper": 2, "Carrot": 3, "extra": 4}),
            "ep08/en/E08P02.jpg": (
                8,
                1,
                {"Pepper": 2, "Carrot": 2, "Coriander": 1, "Shichimi": 1, "Yuzu": 1, "Saffron": 1},
            ),
            "ep08/en/E08P03.jpg": (4, 0, {"Pepper": 2, "Carrot": 2}),
            "ep08/en/E08P04.jpg": (4, 0, {"Pepper": 3, "Carrot": 1}),
            "ep08/en/E08P05.jpg": (4, 0, {"Pepper": 2, "Carrot": 2}),
            "ep08/en/E08P06.jpg": (
                10,
                2,
                {
                    "Pepper": 2,
                    "Carrot": 2,
                    "ep08_four_eyed_monster": 2,
                    "ep08_toad_monster": 2,
                    "ep08_purple_monster": 2,
                },
            ),
        },
        ignored={"extra": 4, "Carrot": 1, "ep08_toad_monster": 1, "ep08_purple_monster": 1},
    ),
    AnnotationFile(
        "faces_ep09.json",
        "peppercarrot",
        pages={
            "ep09/en/E09P01.jpg": (5, 2, {"Pepper": 3, "Carrot": 2}),
            "ep09/en/E09P02.jpg": (
                14,
                0,
                {
                    "extra": 5,
                    "Pepper": 3,
                    "Saffron": 1,
                    "Truffel": 1,
                    "Coriander": 1,
                    "ep09_rooster": 1,
                    "Shichimi": 1,
                    "Yuzu": 1,
                },
            ),
            "ep09/en/E09P03.jpg": (
                11,
                4,
                {
                    "Saffron": 2,
                    "Coriander": 2,
                    "Shichimi": 2,
                    "Pepper": 1,
                    "Truffel": 1,
                    "Yuzu": 1,
                    "Carrot": 1,
                    "ep09_rooster": 1,
                },
            ),
            "ep09/en/E09P04.jpg": (8, 0, {"Carrot": 3, "Truffel": 2, "ep09_rooster": 2, "Yuzu": 1}),
            "ep09/en/E09P05.jpg": (
                11,
                0,
                {"Pepper": 2, "Saffron": 2, "Coriander": 2, "Shichimi": 2, "Truffel": 1, "Yuzu": 1, "Carrot": 1},
            ),
            "ep09/en/E09P06.jpg": (
                22,
                1,
                {
                    "Pepper": 5,
                    "Shichimi": 3,
                    "Carrot": 3,
                    "Yuzu": 3,
                    "Coriander": 2,
                    "Saffron": 2,
                    "Truffel": 2,
                    "ep09_rooster": 2,
                },
            ),
            "ep09/en/E09P07.jpg": (
                14,
                0,
                {"Carrot": 3, "Yuzu": 3, "Truffel": 3, "ep09_rooster": 3, "Pepper": 1, "Shichimi": 1},
            ),
        },
        ignored={"Pepper": 2, "Carrot": 1, "Saffron": 1, "Coriander": 1, "Shichimi": 1, "ep09_rooster": 1},
    ),
]

