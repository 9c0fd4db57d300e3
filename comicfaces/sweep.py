"""Experiment sweeps: a grid of features x reduction x clustering on one face set.

A sweep file (YAML or JSON) names the face set and the grid::

    input:
      faces: path/to/crops          # a folder of crops ...
      labels: path/to/labels.csv    # ... with image_name,identity labels
      # or  annotations: faces.json # COCO boxes with identities (crops cut from the pages)
      # or  pages: path/to/pages + truth: faces.json  (detected faces, matched identities)
    base: {faces: {min_size: 20}}   # optional: a configuration every row starts from
    grid:
      features:
        - {name: hog}
        - {name: color_hist, grid: {bins: [16, 32]}}
      reduction:
        - {name: none}
        - {name: pca, params: {n_components: 32}}
      clustering:
        - {name: hdbscan, grid: {min_cluster_size: [3, 5]}}
        - {name: kmeans, params: {n_clusters: 11}}

Each entry of a stage list is a method with fixed ``params`` and an optional
``grid`` of parameter lists, expanded as scikit-learn's ``ParameterGrid`` does.
Every stage result goes through the workspace cache, so features shared by
several rows are computed once, and rerunning a sweep is a lookup.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from comicfaces.cache import Workspace, atomic_write_json, atomic_write_text, canonical_json, make_key
from comicfaces.config import PipelineConfig

logger = logging.getLogger(__name__)

STAGES = ("features", "reduction", "clustering")
INPUT_KINDS = ("faces", "annotations", "pages")

#: Metric columns shown first in result tables; every metric is kept.
HEADLINE_METRICS = [
    "pairwise_f1_excl_noise",
    "pairwise_f1_singletons",
    "bcubed_f1_excl_noise",
    "bcubed_f1_singletons",
    "nmi_excl_noise",
    "ari_excl_noise",
    "coverage",
    "n_clusters",
    "silhouette",
    "davies_bouldin",
]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file: the input, a base configuration and the grid."""

    input: dict
    base: PipelineConfig
    grid: dict

    def configurations(self) -> list[PipelineConfig]:
        """Expand the grid into one validated configuration per row."""
        per_stage = [_expand_stage(stage, self.grid.get(stage)) for stage in STAGES]
        configs = []
        for choice in itertools.product(*per_stage):
            sections = {stage: entry for stage, entry in zip(STAGES, choice) if entry is not None}
            configs.append(self.base.replace(**sections))
        return configs


def _expand_stage(stage: str, entries) -> list[dict | None]:
    if entries is None:
        return [None]
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"sweep grid.{stage} must be a non-empty list of methods, got {entries!r}")
    expanded = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ValueError(f"sweep grid.{stage}[{position}] must be a mapping with a 'name', got {entry!r}")
        unknown = sorted(set(entry) - {"name", "params", "grid"})
        if unknown:
            raise ValueError(f"sweep grid.{stage}[{position}]: unknown key(s) {unknown}; use name, params and grid")
        params = dict(entry.get("params") or {})
        grid = entry.get("grid") or {}
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"sweep grid.{stage}[{position}].grid.{name} must be a non-empty list, got {values!r}")
        names = sorted(grid)
        for values in itertools.product(*(grid[name] for name in names)):
            expanded.append({"name": entry["name"], "params": {**params, **dict(zip(names, values))}})
    return expanded


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; relative input paths are taken from the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: invalid sweep file ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a sweep file must hold a mapping with 'input' and 'grid'")
    unknown = sorted(set(data) - {"input", "base", "grid"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; a sweep file has input, base and grid")

    source = dict(data.get("input") or {})
    kinds = [kind for kind in INPUT_KINDS if kind in source]
    if len(kinds) != 1:
        raise ValueError(f"{path}: input must name exactly one of {list(INPUT_KINDS)}, got {sorted(source)}")
    for name in ("faces", "labels", "annotations", "pages", "truth"):
        if name in source:
            value = Path(str(source[name])).expanduser()
            source[name] = str(value if value.is_absolute() else (path.parent / value).resolve())

    grid = data.get("grid") or {}
    unknown_stages = sorted(set(grid) - set(STAGES))
    if unknown_stages:
        raise ValueError(f"{path}: unknown grid stage(s) {unknown_stages}; valid stages are {list(STAGES)}")
    try:
        base = PipelineConfig.from_dict(data.get("base"))
        spec = SweepSpec(source, base, grid)
        spec.configurations()
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return spec


def build_face_set(workspace: Workspace, source: dict, base: PipelineConfig, progress=None):
    """Return the face set a sweep runs on, from its ``input`` mapping."""
    from comicfaces.facesets import face_set_from_annotations, face_set_from_folder
    from comicfaces.imageio import list_pages
    from comicfaces.pipeline import attach_truth, face_set_from_pages, process_pages

    if "faces" in source:
        return face_set_from_folder(source["faces"], source.get("labels"))
    if "annotations" in source:
        return face_set_from_annotations(workspace, source["annotations"], panel_config=base.panels)
    pages = list_pages(source["pages"])
    results = process_pages(workspace, pages, base, progress or (lambda *a: None))
    faces = face_set_from_pages(results)
    if source.get("truth"):
        attach_truth(faces, pages, results, source["truth"])
    return faces


def run_sweep(
    workspace: Workspace,
    spec: SweepSpec,
    progress: Callable[[str, int, int], None] | None = None,
) -> pd.DataFrame:
    """Run every configuration of a sweep; return one row per configuration.

    Columns: ``features``, ``reduction``, ``clustering`` (method and parameters
    as JSON), every evaluation metric, ``seconds`` and ``config`` (the full
    configuration as JSON). A configuration that fails (for example k larger
    than the number of faces) gives a row with its ``error`` and no metrics.
    The table is also stored in the workspace (see :func:`sweep_path`).
    """
    from comicfaces.pipeline import cluster_face_set

    progress = progress or (lambda *a: None)
    faces = build_face_set(workspace, spec.input, spec.base)
    if len(faces) == 0:
        raise ValueError("the sweep input gave no faces")
    configs = spec.configurations()
    rows = []
    for index, config in enumerate(configs):
        row = {stage: _describe(getattr(config, stage)) for stage in STAGES}
        started = time.perf_counter()
        try:
            clustered = cluster_face_set(workspace, faces, config)
        except (ValueError, RuntimeError) as error:
            logger.error("sweep row %d failed: %s", index, error)
            row["error"] = str(error)
        else:
            row.update({k: v for k, v in clustered.metrics.items() if not k.endswith("_reason")})
            row["cached"] = all(clustered.cached.values())
        row["seconds"] = time.perf_counter() - started
        row["config"] = canonical_json(config.to_dict())
        rows.append(row)
        progress("sweep", index + 1, len(configs))

    table = pd.DataFrame(rows)
    ordered = ["features", "reduction", "clustering"] + [c for c in HEADLINE_METRICS if c in table]
    table = table[ordered + [c for c in table.columns if c not in ordered]]
    key = make_key("sweep", faces.key, [c.to_dict() for c in configs])[:16]
    save_sweep(workspace, key, spec, table)
    table.attrs["key"] = key
    return table


def _describe(section) -> str:
    return json.dumps({"name": section.name, **section.params}, sort_keys=True)


def sweep_path(workspace: Workspace, key: str) -> Path:
    """Return the CSV file of a stored sweep."""
    return workspace.root / "sweeps" / f"{key}.csv"


def save_sweep(workspace: Workspace, key: str, spec: SweepSpec, table: pd.DataFrame) -> None:
    """Store a sweep's table (CSV) and its specification (JSON) in the workspace."""
    atomic_write_text(sweep_path(workspace, key), table.to_csv(index=False))
    atomic_write_json(
        sweep_path(workspace, key).with_suffix(".json"),
        {"key": key, "input": spec.input, "base": spec.base.to_dict(), "grid": spec.grid, "created": time.time()},
    )


def list_sweeps(workspace: Workspace) -> list[dict]:
    """Return the stored sweep specifications, newest first."""
    folder = workspace.root / "sweeps"
    records = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as error:
            logger.warning("skipping unreadable sweep record %s: %s", path, error)
    return sorted(records, key=lambda r: r.get("created", 0), reverse=True)


def load_sweep_table(workspace: Workspace, key: str) -> pd.DataFrame:
    """Return a stored sweep's result table."""
    path = sweep_path(workspace, key)
    if not path.is_file():
        raise KeyError(f"sweep {key!r} not found in {workspace.root}")
    return pd.read_csv(path)


def to_latex(table: pd.DataFrame, columns: list[str] | None = None, precision: int = 3) -> str:
    """Format a result table as a LaTeX ``tabular`` (booktabs rules), best value per column in bold."""
    columns = columns or [c for c in ["features", "reduction", "clustering"] + HEADLINE_METRICS if c in table]
    frame = table[columns].copy()
    lower_is_better = {"davies_bouldin"}
    bold = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().any() and column not in ("n_clusters",):
            bold[column] = values.idxmin() if column in lower_is_better else values.idxmax()

    def escape(text: str) -> str:
        for char, replacement in [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("{", r"\{"), ("}", r"\}"), ("$", r"\$")]:
            text = text.replace(char, replacement)
        return text

    lines = [r"\begin{tabular}{" + "l" * 3 + "r" * (len(columns) - 3) + "}", r"\toprule"]
    lines.append(" & ".join(escape(c) for c in columns) + r" \\")
    lines.append(r"\midrule")
    for index, row in frame.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            if isinstance(value, float):
                text = "--" if pd.isna(value) else f"{value:.{precision}f}"
            else:
                text = escape(str(value))
            cells.append(rf"\textbf{{{text}}}" if bold.get(column) == index else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
