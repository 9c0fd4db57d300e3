"""Command line: ``python -m comicfaces.demo OUT_DIR`` draws the demo comic."""

from __future__ import annotations

import argparse
import logging
import sys

from comicfaces.demo.characters import CHARACTERS
from comicfaces.demo.generate import generate_demo


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the demo comic and print a one-line summary."""
    parser = argparse.ArgumentParser(prog="python -m comicfaces.demo", description="Draw the comicfaces demo comic with its ground truth.")
    parser.add_argument("out_dir", help="output folder: new, empty or containing an earlier demo, which is replaced")
    parser.add_argument("--pages", type=int, default=6, help="number of pages, 1 to 99 (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed, 0 to 2**32 - 1 (default 0)")
    parser.add_argument("--width", type=int, default=1000, help="page width in pixels (default 1000)")
    parser.add_argument("--height", type=int, default=1400, help="page height in pixels (default 1400)")
    parser.add_argument("--characters", type=int, default=len(CHARACTERS), help=f"number of characters, 2 to {len(CHARACTERS)}")
    parser.add_argument("--redraw", action="store_true", help="draw again even when the folder contains a demo with the same parameters")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    try:
        comic = generate_demo(
            args.out_dir,
            n_pages=args.pages,
            seed=args.seed,
            width=args.width,
            height=args.height,
            n_characters=args.characters,
            reuse=not args.redraw,
        )
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(comic.pages)} pages, {comic.n_faces} faces of {len(comic.identities)} characters in {comic.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
