"""Checks of the golden-age and episode 07 face ground truth in annotations/.

The tests come from annotation_checks.py, and this module declares what each file contains.
"""

from annotation_checks import *  # noqa: F403 (the shared tests)
from annotation_checks import AnnotationFile

# Per page: (all boxes, boxes with ignore: true, boxes of each identity).
FILES = [
    AnnotationFile(
        "faces_golden_age.json",
        "",
        pages={
            "golden_age/black_terror_p1.jpg": (9, 2, {"Black Terror": 4, "extra": 4, "Bob": 1}),
            "golden_age/golden_p3.jpg": (
                12,
                2,
                {"Jerry": 4, "Martha": 3, "ga_golden_p3_mother": 2, "Mr. Froham": 1, "extra": 2},
            ),
            "golden_age/judy_of_the_jungle_p1.jpg": (4, 1, {"Judy": 1, "Pistol Roberts": 1, "extra": 2}),
        },
        ignored={"Black Terror": 1, "extra": 4},
    ),
    AnnotationFile(
        "faces_ep07.json",
        "peppercarrot",
        pages={
            "ep07/en/E07P01.jpg": (2, 0, {"Pepper": 2}),
            "ep07/en/E07P02.jpg": (6, 0, {"Pepper": 4, "Carrot": 2}),
            "ep07/en/E07P03.jpg": (7, 1, {"Pepper": 3, "Carrot": 2, "extra": 2}),
            "ep07/en/E07P04.jpg": (6, 1, {"Pepper": 3, "Carrot": 2, "extra": 1}),
            "ep07/en/E07P05.jpg": (2, 0, {"Pepper": 1, "Carrot": 1}),
        },
        ignored={"Carrot": 1, "extra": 1},
    ),
]

