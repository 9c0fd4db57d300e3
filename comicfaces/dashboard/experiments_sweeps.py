"""Sweep definitions and result tables of the Experiments page, without Streamlit.

The Experiments page builds a sweep (see :mod:`comicfaces.sweep`) from its
widgets or from a sweep file, runs it with :func:`comicfaces.sweep.run_sweep`,
and shows the stored table. This module turns widget values into a
:class:`~comicfaces.sweep.SweepSpec`, and result tables or run records into the
frames that the page charts and exports.

A sweep table describes each stage as a JSON object of the method name and its
parameters, such as ``{"min_cluster_size": 3, "name": "hdbscan"}``;
:func:`parameter_table` splits those columns into one column per parameter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from comicfaces.sweep import HEADLINE_METRICS, INPUT_KINDS, STAGES, SweepSpec, load_sweep

logger = logging.getLogger(__name__)

#: Folder of the workspace where uploaded pages are linked into one folder that a sweep reads.
SWEEP_INPUTS_DIR = "sweep_inputs"

#: Columns of a sweep table that are neither stage descriptions nor metrics.
BOOKKEEPING_COLUMNS = ("seconds", "config", "error", "cached")

#: Maximum length in characters of one stage in a row label. A longer description is cut and ends in "...".
MAX_LABEL_PART = 48

#: Input paths of a sweep file that are resolved against the file's folder, as load_sweep does.
_PATH_KEYS = ("faces", "labels", "annotations", "pages", "truth")


# -- face set of a sweep ----------------------------------------------------------------


def sweep_input(workspace_root: str | Path, spec) -> dict:
    """Return the ``input`` mapping of a sweep that runs on the dashboard input ``spec``.

    Parameters
    ----------
    workspace_root : str or Path
        Workspace of the dashboard; the demo comic is generated there when missing.
    spec : InputSpec
        The dashboard's current input.

    Returns
    -------
    dict
        ``{"pages": folder, "truth": file}`` for the demo comic,
        ``{"pages": path}`` for a folder, image or archive of pages,
        ``{"faces": folder, "labels": csv}`` for a folder of crops. Uploaded
        files are linked into one folder of the workspace (see
        :func:`uploads_folder`), named as they were uploaded.
    """
    from comicfaces.dashboard import inputs

    if spec.kind == "demo":
        folder, truth = inputs.ensure_demo(workspace_root, spec.demo_pages, spec.demo_seed)
        return {"pages": str(folder), "truth": str(truth)}
    if spec.kind == "folder":
        if not spec.paths or not spec.paths[0].strip():
            raise ValueError("the current input names no folder; pick one on the Input page")
        return {"pages": str(Path(spec.paths[0]).expanduser())}
    if spec.kind == "uploads":
        return {"pages": str(uploads_folder(workspace_root, spec.paths, spec.names))}
    source = {"faces": str(Path(spec.paths[0]).expanduser())}
    if spec.labels:
        source["labels"] = str(Path(spec.labels).expanduser())
    return source


def uploads_folder(workspace_root: str | Path, paths: tuple[str, ...], names: tuple[str, ...]) -> Path:
    """Link stored uploads into one folder under their uploaded names, and return the folder.

    A sweep reads its pages from one path, but uploads are stored one file per
    content hash. The folder is named after the files it links, so the same
    uploads give the same folder. A name used twice gets `` (2)``, `` (3)``
    ... before its suffix. Where symbolic links are not allowed the files are
    copied.
    """
    if not paths:
        raise ValueError("the current input has no uploaded files; upload pages on the Input page")
    digest = hashlib.sha256(json.dumps([list(paths), list(names)]).encode("utf-8")).hexdigest()[:16]
    folder = Path(workspace_root) / SWEEP_INPUTS_DIR / f"uploads-{digest}"
    if folder.is_dir():
        return folder

    temporary = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    seen: dict[str, int] = {}
    for path, name in zip(paths, names):
        source = Path(path)
        if not source.is_file():
            shutil.rmtree(temporary, ignore_errors=True)
            raise FileNotFoundError(f"uploaded file {name} is no longer in the workspace ({source}); upload it again")
        count = seen.get(name, 0) + 1
        seen[name] = count
        target_name = name if count == 1 else f"{Path(name).stem} ({count}){Path(name).suffix}"
        target = temporary / Path(target_name).name
        try:
            target.symlink_to(source.resolve())
        except OSError:
            shutil.copy2(source, target)
    try:
        temporary.rename(folder)
    except OSError:
        # Another session linked the same uploads first; its folder has the same files.
        shutil.rmtree(temporary, ignore_errors=True)
    return folder


def custom_input(kind: str, path: str, labels: str = "") -> dict:
    """Return the ``input`` mapping of a sweep on a typed path.

    ``kind`` is ``"faces"`` (a folder of crops, ``labels`` an optional
    ``image_name,identity`` CSV) or ``"annotations"`` (a COCO file of face
    boxes with identities). Raises FileNotFoundError naming a missing path.
    """
    path = path.strip()
    if kind not in ("faces", "annotations"):
        raise ValueError(f"unknown face set kind {kind!r}; use 'faces' or 'annotations'")
    if not path:
        what = "a folder of face crops" if kind == "faces" else "a COCO annotations file"
        raise ValueError(f"no path given; type the path of {what}")
    resolved = Path(path).expanduser()
    if kind == "faces" and not resolved.is_dir():
        raise FileNotFoundError(f"face folder not found: {resolved}; give a folder of face crop images")
    if kind == "annotations" and not resolved.is_file():
        raise FileNotFoundError(f"annotations file not found: {resolved}; give a COCO JSON file of face boxes")
    source = {kind: str(resolved)}
    if kind == "faces" and labels.strip():
        labels_path = Path(labels.strip()).expanduser()
        if not labels_path.is_file():
            raise FileNotFoundError(f"labels CSV not found: {labels_path}; give a CSV with columns image_name,identity")
        source["labels"] = str(labels_path)
    return source


# -- grid -------------------------------------------------------------------------------


def parse_grid_params(text: str) -> dict[str, dict[str, dict]]:
    """Parse the grid parameters typed on the page into ``{stage: {method: entry}}``.

    The text is YAML with one mapping per stage and one per method, such as::

        clustering:
          hdbscan: {min_cluster_size: [3, 5]}
          kmeans: {n_clusters: 8}

    A list gives one row per value and any other value is fixed. A method
    mapping with only the keys ``params`` and ``grid`` (both mappings) is taken
    as written, which fixes a list-valued parameter:
    ``local: {params: {n_words: [16, 32]}}``. Each returned entry has ``params``
    and ``grid``.

    Raises
    ------
    ValueError
        For invalid YAML, an unknown stage, or a method whose value is not a mapping.
    """
    if not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"grid parameters: invalid YAML ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"grid parameters must be a mapping of stage to methods, such as 'clustering: {{hdbscan: {{min_cluster_size: [3, 5]}}}}', got {data!r}")

    parsed: dict[str, dict[str, dict]] = {}
    for stage, methods in data.items():
        if stage not in STAGES:
            raise ValueError(f"grid parameters: unknown stage {stage!r}; use {', '.join(STAGES)}")
        if not isinstance(methods, dict):
            raise ValueError(f"grid parameters: {stage} must map method names to parameters, got {methods!r}")
        parsed[stage] = {}
        for method, values in methods.items():
            where = f"grid parameters: {stage}.{method}"
            if values is None:
                values = {}
            if not isinstance(values, dict):
                raise ValueError(f"{where} must be a mapping of parameter names to values, got {values!r}")
            explicit = values and set(values) <= {"params", "grid"} and all(isinstance(v, dict) for v in values.values())
            if explicit:
                entry = {"params": dict(values.get("params") or {}), "grid": dict(values.get("grid") or {})}
            else:
                entry = {
                    "params": {k: v for k, v in values.items() if not isinstance(v, list)},
                    "grid": {k: v for k, v in values.items() if isinstance(v, list)},
                }
            parsed[stage][str(method)] = entry
    return parsed


def build_grid(selected: dict[str, list[str]], grid_params: dict[str, dict[str, dict]]) -> dict:
    """Return the ``grid`` of a sweep from the methods chosen per stage and their parameters.

    ``selected`` maps each stage to method names; a stage with no method is
    left out, so it keeps the base configuration. ``grid_params`` is the
    output of :func:`parse_grid_params`; naming a method that is not selected
    raises ValueError.
    """
    grid = {}
    for stage in STAGES:
        names = list(selected.get(stage) or [])
        extra = sorted(set(grid_params.get(stage, {})) - set(names))
        if extra:
            raise ValueError(
                f"grid parameters name {', '.join(extra)} under {stage}, which is not selected; "
                "select it or remove its entry"
            )
        if not names:
            continue
        entries = []
        for name in names:
            entry: dict[str, Any] = {"name": name}
            given = grid_params.get(stage, {}).get(name, {})
            if given.get("params"):
                entry["params"] = given["params"]
            if given.get("grid"):
                entry["grid"] = given["grid"]
            entries.append(entry)
        grid[stage] = entries
    return grid


def load_spec(data: Any, origin: str | Path, display_name: str, default_input: dict | None = None, default_base: dict | None = None) -> SweepSpec:
    """Check a parsed sweep mapping with :func:`comicfaces.sweep.load_sweep` and return its spec.

    Parameters
    ----------
    data : mapping
        ``input``, ``base`` and ``grid``, as in a sweep file.
    origin : str or Path
        Folder that relative input paths start from (a sweep file's folder).
    display_name : str
        Name of the sweep in error messages, such as the uploaded file's name.
    default_input, default_base : dict, optional
        Used when ``data`` has no ``input``; ``default_base`` only then, and
        only when ``data`` has no ``base``.

    Raises
    ------
    ValueError
        For everything load_sweep rejects; the message names ``display_name``.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{display_name}: a sweep must be a mapping with 'input' and 'grid', got {type(data).__name__}")
    data = dict(data)
    if not data.get("input"):
        if default_input is None:
            raise ValueError(f"{display_name}: the sweep has no 'input'; name one of {', '.join(INPUT_KINDS)}")
        data["input"] = dict(default_input)
        if default_base is not None and not data.get("base"):
            data["base"] = default_base
    elif isinstance(data["input"], dict):
        data["input"] = _absolute_paths(data["input"], Path(origin))

    # load_sweep reads a file, so the mapping goes through one; its input paths are absolute by now.
    with tempfile.TemporaryDirectory(prefix="comicfaces-sweep-") as folder:
        path = Path(folder) / "sweep.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        try:
            return load_sweep(path)
        except ValueError as error:
            raise ValueError(str(error).replace(str(path), display_name)) from None


def _absolute_paths(source: dict, origin: Path) -> dict:
    resolved = dict(source)
    for key in _PATH_KEYS:
        if key in resolved and resolved[key] is not None:
            value = Path(str(resolved[key])).expanduser()
            resolved[key] = str(value if value.is_absolute() else (origin / value).resolve())
    return resolved


def spec_from_text(text: str, origin: str | Path, display_name: str, default_input: dict | None = None, default_base: dict | None = None) -> SweepSpec:
    """Parse sweep-file YAML (uploaded or read from a path) and return its checked spec; see :func:`load_spec`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{display_name}: invalid YAML ({error})") from None
    return load_spec(data, origin, display_name, default_input, default_base)


def describe_spec(spec: SweepSpec) -> str:
    """Return a one-line summary of a sweep: the number of configurations and the methods of each stage."""
    rows = len(spec.configurations())
    parts = []
    for stage in STAGES:
        entries = spec.grid.get(stage)
        if entries:
            names = sorted({entry["name"] for entry in entries})
            parts.append(f"{stage}: {', '.join(names)}")
    return f"{rows} configuration(s); " + ("; ".join(parts) if parts else "base configuration only")


def describe_input(source: dict) -> str:
    """Return a short description of a sweep's ``input`` mapping."""
    if "faces" in source:
        labels = " with labels" if source.get("labels") else ""
        return f"crops in {source['faces']}{labels}"
    if "annotations" in source:
        return f"annotated faces of {source['annotations']}"
    truth = " with ground truth" if source.get("truth") else ""
    return f"pages in {source.get('pages')}{truth}"


# -- result tables ----------------------------------------------------------------------


def stage_description(section: dict | None) -> str:
    """Return a stage of a configuration as a sweep table shows it: JSON of the name and parameters."""
    section = section or {}
    return json.dumps({"name": section.get("name"), **(section.get("params") or {})}, sort_keys=True)


def _parse_description(text: Any) -> dict:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"name": text}
    return value if isinstance(value, dict) else {"name": text}


def short_description(text: Any) -> str:
    """Return ``name(key=value, ...)`` for a stage description, cut to :data:`MAX_LABEL_PART` characters."""
    values = _parse_description(text)
    name = str(values.pop("name", "?"))
    if values:
        name += "(" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(values.items())) + ")"
    if len(name) > MAX_LABEL_PART:
        name = name[: MAX_LABEL_PART - 3] + "..."
    return name


def row_labels(table: pd.DataFrame) -> list[str]:
    """Return one unique label per row: the short description of each stage, joined by " | "."""
    stages = [stage for stage in STAGES if stage in table]
    labels = [" | ".join(short_description(row[stage]) for stage in stages) for _, row in table.iterrows()]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        count = seen.get(label, 0) + 1
        seen[label] = count
        unique.append(label if count == 1 else f"{label} #{count}")
    return unique


def metric_columns(table: pd.DataFrame) -> list[str]:
    """Return the numeric metric columns: the headline metrics first, then the others by name."""
    skip = set(STAGES) | set(BOOKKEEPING_COLUMNS) | {"key", "name", "created", "from", "faces"}
    numeric = [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
    headline = [c for c in HEADLINE_METRICS if c in numeric]
    return headline + sorted(c for c in numeric if c not in headline)


def parameter_table(table: pd.DataFrame) -> pd.DataFrame:
    """Split the stage columns into one column per method and parameter.

    Returns a frame with the index of ``table`` and columns such as
    ``clustering`` (the method name) and ``clustering.min_cluster_size``.
    A parameter that a row's method lacks is missing (NaN). List and mapping
    values become JSON text, so they can be grouped.
    """
    columns: dict[str, list] = {}
    stages = [stage for stage in STAGES if stage in table]
    parsed = {stage: [_parse_description(text) for text in table[stage]] for stage in stages}
    for stage in stages:
        columns[stage] = [values.get("name") for values in parsed[stage]]
        names = sorted({key for values in parsed[stage] for key in values if key != "name"})
        for name in names:
            column = []
            for values in parsed[stage]:
                value = values.get(name)
                column.append(json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value)
            columns[f"{stage}.{name}"] = column
    return pd.DataFrame(columns, index=table.index)


def varying_parameters(parameters: pd.DataFrame) -> list[str]:
    """Return the columns of :func:`parameter_table` that take at least two values."""
    return [c for c in parameters.columns if parameters[c].dropna().astype(str).nunique() >= 2]


def metric_against_parameter(table: pd.DataFrame, metric: str, parameter: str) -> pd.DataFrame:
    """Return the rows where ``parameter`` is set, as ``value``, ``metric``, ``setting`` and ``numeric``.

    ``setting`` names the values of every other parameter that varies in the
    sweep, so each setting is one line of the chart. ``numeric`` is True when
    every value of the parameter is a number; the chart then uses a numeric axis.
    """
    parameters = parameter_table(table)
    if parameter not in parameters:
        raise KeyError(f"parameter {parameter!r} is not in the sweep; choose one of {', '.join(parameters.columns)}")
    if metric not in table:
        raise KeyError(f"metric {metric!r} is not in the sweep table")
    rows = parameters[parameter].notna()
    others = [c for c in varying_parameters(parameters[rows]) if c != parameter]
    values = parameters.loc[rows, parameter]
    numeric = bool(len(values)) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    frame = pd.DataFrame(
        {
            "value": values if numeric else values.astype(str),
            metric: pd.to_numeric(table.loc[rows, metric], errors="coerce"),
            "setting": [
                ", ".join(f"{c}={parameters.at[i, c]}" for c in others if pd.notna(parameters.at[i, c])) or "all rows"
                for i in parameters.index[rows]
            ],
        }
    )
    frame["numeric"] = numeric
    return frame.sort_values(["setting", "value"]).reset_index(drop=True)


def result_columns(table: pd.DataFrame) -> list[str]:
    """Return the columns a sweep table shows: stages, metrics, time, cache and error, without the full config."""
    shown = [c for c in STAGES if c in table] + metric_columns(table)
    return shown + [c for c in ("seconds", "cached", "error") if c in table]


def sort_table(table: pd.DataFrame, column: str | None, descending: bool = True) -> pd.DataFrame:
    """Return the table sorted by ``column``, missing values last, or unchanged when the column is absent."""
    if not column or column not in table:
        return table
    return table.sort_values(column, ascending=not descending, na_position="last", kind="stable")


# -- stored runs ------------------------------------------------------------------------


def runs_comparison(records: list[dict]) -> pd.DataFrame:
    """Return one row per run record: key, name, date, input, the stages as in a sweep table, and every metric.

    The stage columns have the sweep format, so :func:`comicfaces.sweep.to_latex`
    and the charts of a sweep table also work on it.
    """
    rows = []
    for record in records:
        config = record.get("config") or {}
        record_input = record.get("input") or {}
        row = {
            "key": record.get("key"),
            "name": record.get("name"),
            "created": pd.to_datetime(record.get("created", 0), unit="s").strftime("%Y-%m-%d %H:%M"),
            "input": record_input.get("path") or record_input.get("source") or record_input.get("kind"),
            "from": record.get("source", "cli"),
            "features": stage_description(config.get("features")),
            "reduction": stage_description(config.get("reduction")),
            "clustering": stage_description(config.get("clustering")),
            "n_faces": record.get("n_faces"),
        }
        metrics = {k: v for k, v in (record.get("metrics") or {}).items() if not str(k).endswith("_reason")}
        for name in ("n_clusters", "n_noise"):
            if name not in metrics and record.get(name) is not None:
                metrics[name] = record[name]
        for name, value in metrics.items():
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if is_number or value is None:
                row[name] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in metric_columns_of_records(frame):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def metric_columns_of_records(frame: pd.DataFrame) -> list[str]:
    """Return the metric columns of :func:`runs_comparison` (everything after ``n_faces``)."""
    fixed = {"key", "name", "created", "input", "from", "features", "reduction", "clustering", "n_faces"}
    return [c for c in frame.columns if c not in fixed]


def csv_bytes(table: pd.DataFrame) -> bytes:
    """Return the table as UTF-8 CSV without the index."""
    return table.to_csv(index=False).encode("utf-8")
