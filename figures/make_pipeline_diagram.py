"""Write ``figures/pipeline.svg``: the stages of comicfaces as a flow diagram.

Run ``python figures/make_pipeline_diagram.py`` after changing the stage list;
the SVG is plain text, so it is committed and diffed like code.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

# (title, module, what the stage outputs); the page stages are cached per page.
STAGES = [
    ("pages", "imageio", "images, .cbz"),
    ("panels", "panels", "panel boxes in reading order"),
    ("text / balloons", "text", "text, balloons, blanked page"),
    ("faces", "detect", "face boxes, detector, score"),
    ("crops", "pipeline", "one image per face"),
    ("features", "features", "n_faces x n_features"),
    ("reduction", "reduction", "none / PCA"),
    ("clustering", "clustering", "label per face, noise = -1"),
    ("evaluation", "metrics", "P/R/F1, BCubed, NMI, ARI"),
]

BOX_WIDTH, BOX_HEIGHT = 160, 74
GAP = 34
PER_ROW = 5
MARGIN = 20
PAGE_COLOUR = "#dbeafe"
SET_COLOUR = "#dcfce7"
EVAL_COLOUR = "#fef3c7"


def box_position(index: int) -> tuple[int, int]:
    """Return the top-left corner of stage ``index``; the second row runs right to left."""
    row, column = divmod(index, PER_ROW)
    if row == 1:
        column = PER_ROW - 1 - column
    x = MARGIN + column * (BOX_WIDTH + GAP)
    y = MARGIN + 30 + row * (BOX_HEIGHT + 70)
    return x, y


def arrow(start: tuple[float, float], end: tuple[float, float]) -> str:
    """Return an SVG line with an arrow head from ``start`` to ``end``."""
    return (
        f'<line x1="{start[0]}" y1="{start[1]}" x2="{end[0]}" y2="{end[1]}" '
        'stroke="#334155" stroke-width="2" marker-end="url(#head)"/>'
    )


def render() -> str:
    """Return the diagram as an SVG document."""
    width = 2 * MARGIN + PER_ROW * BOX_WIDTH + (PER_ROW - 1) * GAP
    height = 2 * MARGIN + 30 + 2 * BOX_HEIGHT + 70 + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        '<defs><marker id="head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
        '<path d="M0,0 L10,4 L0,8 z" fill="#334155"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="15" font-weight="bold" fill="#0f172a">'
        "comicfaces pipeline: every stage is cached in the workspace</text>",
    ]

    for index, (title, module, output) in enumerate(STAGES):
        x, y = box_position(index)
        colour = SET_COLOUR
        if index < 5:
            colour = PAGE_COLOUR
        elif title == "evaluation":
            colour = EVAL_COLOUR
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="10" '
            f'fill="{colour}" stroke="#334155" stroke-width="1.5"/>'
        )
        centre = x + BOX_WIDTH / 2
        parts.append(
            f'<text x="{centre}" y="{y + 24}" text-anchor="middle" font-size="15" '
            f'font-weight="bold" fill="#0f172a">{index + 1}. {escape(title)}</text>'
        )
        parts.append(
            f'<text x="{centre}" y="{y + 43}" text-anchor="middle" font-size="11" '
            f'fill="#475569" font-family="monospace">comicfaces.{escape(module)}</text>'
        )
        parts.append(
            f'<text x="{centre}" y="{y + 61}" text-anchor="middle" font-size="10.5" '
            f'fill="#334155">{escape(output)}</text>'
        )

    for index in range(len(STAGES) - 1):
        x0, y0 = box_position(index)
        x1, y1 = box_position(index + 1)
        if y0 == y1 and x1 > x0:
            parts.append(arrow((x0 + BOX_WIDTH, y0 + BOX_HEIGHT / 2), (x1 - 2, y1 + BOX_HEIGHT / 2)))
        elif y0 == y1:
            parts.append(arrow((x0, y0 + BOX_HEIGHT / 2), (x1 + BOX_WIDTH + 2, y1 + BOX_HEIGHT / 2)))
        else:
            parts.append(arrow((x0 + BOX_WIDTH / 2, y0 + BOX_HEIGHT), (x1 + BOX_WIDTH / 2, y1 - 2)))

    # A folder of ready crops skips the page stages and enters at the features stage.
    x, y = box_position(PER_ROW * 2 - 1)
    parts.append(
        f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="10" fill="white" '
        'stroke="#64748b" stroke-width="1.5" stroke-dasharray="6 4"/>'
    )
    for offset, line in ((26, "or: a folder of face crops"), (44, "(+ labels CSV)"), (62, "enters at 6. features")):
        parts.append(
            f'<text x="{x + BOX_WIDTH / 2}" y="{y + offset}" text-anchor="middle" font-size="11.5" '
            f'fill="#334155">{escape(line)}</text>'
        )

    legend_y = height - MARGIN - 6
    legend = [
        (PAGE_COLOUR, "page stages: cached per page (SHA-256 of the page + parameters)"),
        (SET_COLOUR, "face-set stages: cached per face set + parameters"),
    ]
    x = MARGIN
    for colour, label in legend:
        parts.append(f'<rect x="{x}" y="{legend_y - 11}" width="14" height="14" fill="{colour}" stroke="#334155"/>')
        parts.append(f'<text x="{x + 20}" y="{legend_y}" font-size="11.5" fill="#334155">{escape(label)}</text>')
        x += 430
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    """Write the SVG beside this script."""
    target = Path(__file__).with_name("pipeline.svg")
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
