"""Store the dashboard's current results as a run in the workspace.

:func:`comicfaces.pipeline.run_pipeline` stores a run for one source path.
An input of the dashboard can be several uploaded files, so the dashboard
builds the same record from the results it has already computed. The record has the keys
that ``run_pipeline`` writes (``key``, ``name``, ``created``, ``version``,
``input``, ``config``, ``errors``, ``n_faces``, ``stages``, ``detection``,
``n_clusters``, ``n_noise``, ``metrics``), and the faces table is written
beside it as ``runs/<key>.faces.csv``, so ``python -m comicfaces runs`` and
:func:`comicfaces.pipeline.load_run_faces` read it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from comicfaces import __version__
from comicfaces.cache import Workspace, atomic_write_text, make_key
from comicfaces.dashboard.state import InputSpec


def input_record(spec: InputSpec, n_items: int) -> dict:
    """Return the ``input`` entry of a run record for ``spec``."""
    if spec.kind == "faces":
        record = {"kind": "faces", "path": str(Path(spec.paths[0]).expanduser().resolve()), "n_crops": n_items}
        if spec.labels:
            record["labels"] = str(Path(spec.labels).expanduser().resolve())
        return record
    record = {"kind": "pages", "source": spec.kind, "n_pages": n_items}
    if spec.kind == "demo":
        record.update({"demo_pages": spec.demo_pages, "demo_seed": spec.demo_seed})
    elif spec.kind == "folder":
        record["path"] = str(Path(spec.paths[0]).expanduser().resolve())
    else:
        record["files"] = [{"name": name, "path": path} for name, path in zip(spec.names, spec.paths)]
    return record


def _plain(value):
    """Return ``value`` as JSON data: dataclasses become dicts and NaN becomes None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "matches"}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def save_run(
    workspace: Workspace,
    spec: InputSpec,
    config_dict: dict,
    faces_key: str,
    table: pd.DataFrame,
    stage_keys: dict,
    metrics: dict,
    detection=None,
    errors: list | None = None,
    n_items: int = 0,
    name: str | None = None,
) -> dict:
    """Store a run record and its faces table; return the record.

    Parameters
    ----------
    workspace : Workspace
        Where the run is stored.
    spec : InputSpec
        The input the results came from.
    config_dict : dict
        ``PipelineConfig.to_dict()`` of the results.
    faces_key : str
        Key of the face set.
    table : DataFrame
        Faces with their ``cluster`` column.
    stage_keys : dict
        Cache keys of the face-set stages (``features``, ``reduction``, ``clustering``).
    metrics : dict
        Output of :func:`comicfaces.metrics.evaluate_clustering`.
    detection : DetectionReport or dict, optional
        Detection scores against ground truth.
    errors : list of dict, optional
        Skipped input files, ``{"page": ..., "error": ...}``.
    n_items : int
        Number of pages (or crops for a face folder).
    name : str, optional
        Display name; defaults to the input description.
    """
    record_input = input_record(spec, n_items)
    run_key = make_key("run", {"faceset": faces_key, "input": record_input}, config_dict)[:16]
    labels = table["cluster"].to_numpy()
    record = {
        "key": run_key,
        "name": name or spec.describe(),
        "created": time.time(),
        "version": __version__,
        "source": "dashboard",
        "input": record_input,
        "config": config_dict,
        "errors": list(errors or []),
        "n_faces": int(len(table)),
        "stages": {"faceset": faces_key, **stage_keys},
        "detection": _plain(detection),
        "n_clusters": int(len(set(labels.tolist()) - {-1})),
        "n_noise": int(np.sum(labels == -1)),
        "metrics": _plain(metrics),
    }
    atomic_write_text(workspace.root / "runs" / f"{run_key}.faces.csv", table.to_csv(index=False))
    workspace.save_run(record)
    return record


def delete_run(workspace: Workspace, run_key: str) -> bool:
    """Delete a run record and its faces table; return False when the run did not exist."""
    deleted = workspace.delete_run(run_key)
    table = workspace.root / "runs" / f"{run_key}.faces.csv"
    if table.is_file():
        table.unlink()
    return deleted


def runs_table(records: list[dict]) -> pd.DataFrame:
    """Return one row per run record: key, name, date, faces, clusters and headline scores."""
    rows = []
    for record in records:
        metrics = record.get("metrics") or {}
        rows.append(
            {
                "key": record.get("key"),
                "name": record.get("name"),
                "created": pd.to_datetime(record.get("created", 0), unit="s").strftime("%Y-%m-%d %H:%M"),
                "faces": record.get("n_faces"),
                "clusters": record.get("n_clusters"),
                "noise": record.get("n_noise"),
                "pairwise F1 (noise excl.)": metrics.get("pairwise_f1_excl_noise"),
                "BCubed F1 (singletons)": metrics.get("bcubed_f1_singletons"),
                "features": ((record.get("config") or {}).get("features") or {}).get("name"),
                "clustering": ((record.get("config") or {}).get("clustering") or {}).get("name"),
                "from": record.get("source", "cli"),
            }
        )
    return pd.DataFrame(rows)
