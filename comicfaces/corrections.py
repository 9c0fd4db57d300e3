"""Cluster corrections made by hand: names, merges, splits, moves, rejected and added faces.

A :class:`Corrections` document belongs to an input (a set of pages or a folder
of crops), not to a run, so the same corrections apply to every run of that
input, whatever its clustering. It is stored as JSON in the workspace::

    WORKSPACE/corrections/<input_key>.json

The document contains a registry of the faces that actions refer to, and an
append-only log of actions with UTC timestamps. The registry stores each
face's page and box in page pixels, so the face is found again in a run with
other detection parameters. Undo and
redo append entries too, so the log records every step and two logs of the
same input can be merged (see :meth:`Corrections.merge`).

Every action is stored as face-level facts. Replaying the log gives each face
at most one *group*: a character name (``n:<name>``) or an unnamed group
(``g:<id>``), plus the flags *manual* (placed by hand), *rejected* (not a face)
and *added* (drawn by hand, missed by the detector). :meth:`Corrections.apply`
turns a run's faces table and cluster labels into the corrected table.

Re-clustering rule
------------------
Faces moved by hand (``move``, ``split``, a named ``add``) are hard constraints;
names and merges are soft and follow the clusters of the run:

1. Counted faces are those not moved by hand and not rejected. ``size(c)`` is
   the number of counted faces in run cluster ``c`` (noise faces are clusters
   of one), and ``M[g, c]`` the number of counted faces of group ``g`` in it.
2. Hungarian matching (``scipy.optimize.linear_sum_assignment``, maximising
   the total of ``M``) pairs groups with clusters one to one. A pair is kept
   when ``2 * M[g, c] > size(c)``: the group's faces are a strict majority of
   the cluster. The kept cluster becomes the group's *home*.
3. Every other cluster ``c`` whose counted faces are a strict majority of one
   group ``g`` also takes ``g``: it becomes ``g``'s home when ``g`` has none yet,
   and is merged into that home otherwise (a finer clustering split a named
   character). Clusters are visited by decreasing overlap, then by label.
4. Faces moved by hand go to their group's home, or to a new cluster of their
   group when no cluster of the run took the group.
5. A face takes the name of its group; faces of clusters without a group have
   no name. A counted face of a group whose cluster went to another group, or
   to none, stays where the clustering put it.

On the run where the corrections were made this reproduces every action
exactly, because naming and merging give a group to all faces of the
clusters involved, and moves are hard.

Face identity across runs
-------------------------
Face ids of page runs are ``p{page_index:04d}_f{index:03d}``: the index of the
detection on its page. They are stable across runs that differ only in
features, reduction or clustering, but name different faces once a detection
parameter changes. Faces are therefore always matched by page and box: a face
of the document and a face of a table are the same when they lie on the same
page with an IoU of at least :data:`MATCH_IOU` (0.5), pairs chosen by maximum
total IoU. Faces of a folder of crops have no box and are matched by id (their
file name). Faces of the document found in no row of a table are listed in
``table.attrs["unmatched_faces"]`` by :meth:`Corrections.apply`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from comicfaces.cache import Workspace, atomic_write_json, canonical_json

logger = logging.getLogger(__name__)

__all__ = [
    "MATCH_IOU",
    "SCHEMA_VERSION",
    "Corrections",
    "CorrectionsError",
    "compute_input_key",
    "crop_file_names",
    "identities_for",
    "input_key_for",
    "input_key_from_items",
    "labels_csv",
    "match_faces",
    "score_against_corrections",
]

#: Version of the JSON layout. Files of a newer version are rejected.
SCHEMA_VERSION = 1
FORMAT = "comicfaces-corrections"

#: Minimum IoU between two boxes of one page for them to be the same face.
MATCH_IOU = 0.5

#: Maximum length of a character name, in characters.
MAX_NAME_LENGTH = 200

#: Cache stage of the crops of faces added by hand.
ADDED_STAGE = "added_faces"

ACTION_TYPES = ("name", "rename", "merge", "move", "split", "reject", "add", "assign", "reset", "undo", "redo")
BOX_COLUMNS = ["x0", "y0", "x1", "y1"]
VIEW_COLUMNS = ["cluster", "noise", "name", "group", "rejected", "added", "manual", "run_cluster", "run_row"]

_HEX_KEY = re.compile(r"^[0-9a-f]{16,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CorrectionsError(ValueError):
    """Invalid corrections file or action request. The message names the field."""


# -- input keys ----------------------------------------------------------------------


def input_key_from_items(kind: str, items: Iterable[tuple[str, str]]) -> str:
    """Return the input key of ``(name, sha256)`` pairs: pages or crop files.

    The key is the SHA-256 of the sorted pairs, without the package version,
    so corrections survive upgrades and moving the input folder.
    """
    payload = canonical_json({"kind": kind, "items": sorted([str(name), str(digest)] for name, digest in items)})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def compute_input_key(kind: str, path: str | Path) -> str:
    """Return the input key of a folder of pages (``kind="pages"``) or of crops (``"faces"``).

    Reads every file once to hash it.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``kind`` is unknown.
    """
    from comicfaces.imageio import IMAGE_EXTENSIONS, hash_bytes, list_pages, page_digest

    path = Path(path)
    if kind == "pages":
        items = [(page.page_id, page_digest(page)) for page in list_pages(path)]
    elif kind == "faces":
        if not path.is_dir():
            raise FileNotFoundError(f"face folder not found: {path}")
        files = [
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        ]
        items = [(p.relative_to(path).as_posix(), hash_bytes(p.read_bytes())) for p in files]
    else:
        raise ValueError(f"unknown input kind {kind!r}; use 'pages' or 'faces'")
    return input_key_from_items(kind, items)


def input_key_for(record: Mapping) -> str:
    """Return the input key of a run record.

    Uses ``record["input"]["key"]`` when the record stores one, and otherwise
    hashes the input files named by ``record["input"]["path"]``.

    Raises
    ------
    CorrectionsError
        If the record stores no key and its input cannot be read.
    """
    source = record.get("input") or {}
    stored = source.get("key")
    if isinstance(stored, str) and stored:
        return stored
    kind, path = source.get("kind"), source.get("path")
    try:
        return compute_input_key(kind, path)
    except (OSError, ValueError, TypeError) as error:
        raise CorrectionsError(
            f"run {record.get('key')!r}: cannot compute the key of its input {path!r} ({error}); "
            "the input must be readable, or the run record must store input.key"
        ) from error


# -- helpers ---------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _check_name(name, field: str = "name") -> str:
    if not isinstance(name, str):
        raise CorrectionsError(f"{field} must be a string, got {name!r}")
    cleaned = name.strip()
    if not cleaned:
        raise CorrectionsError(f"{field} must not be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise CorrectionsError(f"{field} has {len(cleaned)} characters; at most {MAX_NAME_LENGTH} are allowed")
    if _CONTROL.search(cleaned):
        raise CorrectionsError(f"{field} {name!r} contains control characters")
    return cleaned


def _token_name(token: str | None) -> str:
    return token[2:] if token and token.startswith("n:") else ""


def _has_boxes(table: pd.DataFrame) -> bool:
    return "page" in table and all(column in table for column in BOX_COLUMNS)


def _box_of(row: Mapping) -> list[int] | None:
    values = [row.get(column) for column in BOX_COLUMNS]
    if any(value is None or (isinstance(value, float) and math.isnan(value)) for value in values):
        return None
    return [int(round(float(value))) for value in values]


def match_faces(entries: Mapping[str, Mapping], table: pd.DataFrame, iou: float = MATCH_IOU) -> dict[str, int]:
    """Match registered faces to the rows of a faces table.

    Parameters
    ----------
    entries : mapping of str to dict
        Face id to ``{"page": str or None, "box": [x0, y0, x1, y1] or None}``.
    table : DataFrame
        Faces table with ``face_id`` and, for page runs, ``page`` and box columns.
    iou : float
        Minimum IoU of a match on one page.

    Returns
    -------
    dict of str to int
        Registered id to row position in ``table`` (``0 .. len - 1``).

    Notes
    -----
    Entries with a page and a box are matched to rows of the same page whose
    box overlaps at IoU >= ``iou``, one to one, pairs chosen by maximum total
    IoU (Hungarian assignment). Entries without a box are matched by equal
    ``face_id``. Cost is O(f_p * r_p) per page for f_p entries and r_p rows.
    """
    from scipy.optimize import linear_sum_assignment

    from comicfaces.boxes import iou_matrix

    matches: dict[str, int] = {}
    ids = table["face_id"].astype(str).tolist() if "face_id" in table else []
    row_of_id = {face_id: position for position, face_id in enumerate(ids)}

    by_page: dict[str, list[str]] = {}
    for face_id, entry in entries.items():
        if entry.get("page") is not None and entry.get("box") is not None and _has_boxes(table):
            by_page.setdefault(str(entry["page"]), []).append(face_id)
        elif face_id in row_of_id:
            matches[face_id] = row_of_id[face_id]
    if not by_page:
        return matches

    pages = table["page"].astype(str).to_numpy()
    boxes = table[BOX_COLUMNS].to_numpy(dtype=np.float64)
    for page, face_ids in by_page.items():
        rows = np.flatnonzero(pages == page)
        if rows.size == 0:
            continue
        registered = np.array([entries[face_id]["box"] for face_id in face_ids], dtype=np.float64)
        overlap = iou_matrix(registered, boxes[rows])
        left, right = linear_sum_assignment(overlap, maximize=True)
        for i, j in zip(left, right):
            if overlap[i, j] >= iou:
                matches[face_ids[i]] = int(rows[j])
    return matches


def crop_file_names(table: pd.DataFrame) -> list[str]:
    """Return the crop image name of each face, as a labels CSV names it.

    Runs on a folder of crops keep the ``image_name`` column (the crop's path
    relative to that folder). Page runs use ``<face_id>.png``: the name that
    :func:`comicfaces.pipeline.write_outputs` gives crops in ``crops/`` and
    :func:`comicfaces.exports.export_crops` gives them in a flat folder.
    """
    if "image_name" in table:
        return [str(name) for name in table["image_name"]]
    return [f"{face_id}.png" for face_id in table["face_id"]]


# -- the document ------------------------------------------------------------------------


class Corrections:
    """Corrections of the faces of one input, kept as a log of actions.

    Parameters
    ----------
    input_key : str
        Key of the input (see :func:`input_key_for`).
    input_info : dict, optional
        ``kind`` and ``path`` of the input, kept for display only.
    path : str or Path, optional
        JSON file the document is saved to after each action; None keeps it
        in memory until :meth:`save` is given a path.
    workspace : Workspace, optional
        Where the crops of added faces are cached.

    Notes
    -----
    Action methods take ``view``, the table returned by :meth:`apply` for the
    run on screen, to resolve cluster numbers into faces. Each appends one
    entry to the log, saves the file when ``path`` is set and returns the
    entry.

    NOTE: two processes writing one file each keep their own log, and the
    last write wins; :meth:`merge` combines logs explicitly.
    """

    def __init__(
        self,
        input_key: str,
        *,
        input_info: Mapping | None = None,
        path: str | Path | None = None,
        workspace: Workspace | None = None,
    ):
        if not isinstance(input_key, str) or not _HEX_KEY.match(input_key):
            raise CorrectionsError(f"input_key must be a lowercase hex key of 16 to 64 digits, got {input_key!r}")
        self.input_key = input_key
        self.input_info = dict(input_info or {})
        self.path = Path(path) if path is not None else None
        self.workspace = workspace
        self.created = _now()
        self.faces: dict[str, dict] = {}
        self.actions: list[dict] = []

    def __repr__(self) -> str:
        return f"Corrections({self.input_key[:12]}..., {len(self.actions)} log entries)"

    # -- storage -----------------------------------------------------------------------

    @staticmethod
    def path_for(workspace: Workspace, input_key: str) -> Path:
        """Return the JSON file of the corrections of ``input_key`` in ``workspace``."""
        if not _HEX_KEY.match(str(input_key)):
            raise CorrectionsError(f"invalid input key {input_key!r}: expected 16 to 64 lowercase hex digits")
        return workspace.root / "corrections" / f"{input_key}.json"

    @classmethod
    def open(cls, workspace: Workspace, input_key: str, input_info: Mapping | None = None) -> Corrections:
        """Load the corrections of an input from ``workspace``, or start empty ones.

        The returned document saves itself to the workspace after each action.
        """
        path = cls.path_for(workspace, input_key)
        if path.is_file():
            corrections = cls.load(path)
            if corrections.input_key != input_key:
                raise CorrectionsError(f"{path}: input_key is {corrections.input_key!r}, expected {input_key!r}")
            corrections.workspace = workspace
            return corrections
        return cls(input_key, input_info=input_info, path=path, workspace=workspace)

    @classmethod
    def for_run(cls, workspace: Workspace, record: Mapping) -> Corrections:
        """Open the corrections of a run's input (see :meth:`open`)."""
        info = {k: v for k, v in (record.get("input") or {}).items() if k in ("kind", "path")}
        return cls.open(workspace, input_key_for(record), info)

    @classmethod
    def load(cls, path: str | Path) -> Corrections:
        """Read and validate a corrections file; later actions save to the same file.

        Raises
        ------
        CorrectionsError
            If the file is not JSON or a field is invalid; the message names
            the file and the field.
        FileNotFoundError
            If the file does not exist.
        """
        import json

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"corrections file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CorrectionsError(f"{path}: not a valid JSON corrections file ({error})") from error
        corrections = cls.from_dict(data, source=str(path))
        corrections.path = path
        return corrections

    @classmethod
    def from_dict(cls, data, source: str = "corrections") -> Corrections:
        """Build a document from its JSON form, validating every field."""
        if not isinstance(data, dict):
            raise CorrectionsError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise CorrectionsError(f"{source}: 'format' must be {FORMAT!r}, got {data.get('format')!r}")
        version = data.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise CorrectionsError(f"{source}: 'schema_version' must be a positive integer, got {version!r}")
        if version > SCHEMA_VERSION:
            raise CorrectionsError(
                f"{source}: schema_version {version} is newer than this comicfaces reads ({SCHEMA_VERSION}); upgrade comicfaces"
            )
        try:
            corrections = cls(data.get("input_key"), input_info=data.get("input") or {})
        except CorrectionsError as error:
            raise CorrectionsError(f"{source}: {error}") from None
        corrections.created = str(data.get("created") or corrections.created)

        faces = data.get("faces", {})
        if not isinstance(faces, dict):
            raise CorrectionsError(f"{source}: 'faces' must be an object of face id to page and box")
        for face_id, entry in faces.items():
            corrections.faces[face_id] = _check_face_entry(entry, f"{source}: faces[{face_id!r}]")

        actions = data.get("actions", [])
        if not isinstance(actions, list):
            raise CorrectionsError(f"{source}: 'actions' must be a list")
        uids: set[str] = set()
        for index, action in enumerate(actions):
            where = f"{source}: actions[{index}]"
            _check_action(action, where, corrections.faces)
            if action["uid"] in uids:
                raise CorrectionsError(f"{where}: uid {action['uid']!r} appears twice")
            uids.add(action["uid"])
            corrections.actions.append(dict(action))
        return corrections

    def to_dict(self) -> dict:
        """Return the document as JSON-serialisable data."""
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "input_key": self.input_key,
            "input": self.input_info,
            "created": self.created,
            "faces": self.faces,
            "actions": self.actions,
        }

    def save(self, path: str | Path | None = None) -> Path:
        """Write the document atomically to ``path`` (default: its own path)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise CorrectionsError("no file to save the corrections to: pass a path, or open them from a workspace")
        atomic_write_json(target, self.to_dict())
        return target

    # -- log ---------------------------------------------------------------------------

    def _append(self, kind: str, **fields) -> dict:
        action = {"uid": uuid.uuid4().hex, "time": _now(), "type": kind, **fields}
        _check_action(action, f"new {kind} action", self.faces)
        self.actions.append(action)
        if self.path is not None:
            self.save()
        logger.info("corrections %s: %s", self.input_key[:12], kind)
        return action

    def active_actions(self) -> list[dict]:
        """Return the actions in effect: every action not undone (or undone and redone)."""
        undone: set[str] = set()
        for action in self.actions:
            if action["type"] == "undo":
                undone.add(action["target"])
            elif action["type"] == "redo":
                undone.discard(action["target"])
        return [a for a in self.actions if a["type"] not in ("undo", "redo") and a["uid"] not in undone]

    def _redo_stack(self) -> list[str]:
        stack: list[str] = []
        for action in self.actions:
            if action["type"] == "undo":
                stack.append(action["target"])
            elif action["type"] == "redo":
                if stack and stack[-1] == action["target"]:
                    stack.pop()
            else:
                stack.clear()
        return stack

    def undo(self) -> dict | None:
        """Undo the last action in effect; return it, or None when there is none."""
        active = self.active_actions()
        if not active:
            return None
        target = active[-1]
        self._append("undo", target=target["uid"])
        return target

    def redo(self) -> dict | None:
        """Redo the last undone action when no new action followed; return it or None."""
        stack = self._redo_stack()
        if not stack:
            return None
        self._append("redo", target=stack[-1])
        return next(a for a in self.actions if a["uid"] == stack[-1])

    def merge(self, other: Corrections) -> int:
        """Add the log entries of ``other`` (same input) missing here; return how many.

        Entries are identified by ``uid`` and the merged log is ordered by time,
        then uid. A face id registered on both sides with boxes that do not
        match gets a new id on the incoming side.
        """
        if other.input_key != self.input_key:
            raise CorrectionsError(f"cannot merge corrections of input {other.input_key[:12]} into {self.input_key[:12]}")
        renamed: dict[str, str] = {}
        for face_id, entry in other.faces.items():
            mine = self.faces.get(face_id)
            if mine is None:
                self.faces[face_id] = dict(entry)
            elif not _same_face(mine, entry):
                new_id = self._free_id(face_id)
                self.faces[new_id] = dict(entry)
                renamed[face_id] = new_id
        known = {action["uid"] for action in self.actions}
        added = [_rename_faces(action, renamed) for action in other.actions if action["uid"] not in known]
        self.actions = sorted(self.actions + added, key=lambda a: (a["time"], a["uid"]))
        if added and self.path is not None:
            self.save()
        return len(added)

    # -- state -------------------------------------------------------------------------

    def state(self) -> dict:
        """Replay the actions in effect into face-level facts.

        Returns
        -------
        dict
            ``group`` (face id to group token), ``manual``, ``rejected`` (sets of
            face ids) and ``added`` (face id to registry entry).
        """
        group: dict[str, str] = {}
        manual: set[str] = set()
        rejected: set[str] = set()
        added: dict[str, dict] = {}
        for action in self.active_actions():
            kind = action["type"]
            if kind == "name":
                for face in action["faces"]:
                    group[face] = "n:" + action["name"]
            elif kind == "rename":
                old, new = "n:" + action["old"], "n:" + action["new"]
                for face, token in list(group.items()):
                    if token == old:
                        group[face] = new
            elif kind == "merge":
                for face in action["faces"]:
                    group[face] = action["group"]
            elif kind == "move":
                for face in action.get("target_faces", []):
                    group[face] = action["group"]
                for face in action["faces"]:
                    group[face] = action["group"]
                    manual.add(face)
            elif kind == "split":
                for part, token in zip(action["parts"], action["groups"]):
                    for face in part:
                        group[face] = token
                        manual.add(face)
            elif kind == "reject":
                for face in action["faces"]:
                    (rejected.add if action["rejected"] else rejected.discard)(face)
            elif kind == "add":
                face = action["face"]
                added[face] = self.faces[face]
                if action.get("group"):
                    group[face] = action["group"]
                    manual.add(face)
            elif kind == "assign":
                for face, name in action["names"].items():
                    group[face] = "n:" + name
                    if action["manual"]:
                        manual.add(face)
            elif kind == "reset":
                for face in action["faces"]:
                    group.pop(face, None)
                    manual.discard(face)
                    rejected.discard(face)
        return {"group": group, "manual": manual, "rejected": rejected, "added": added}

    def names(self) -> list[str]:
        """Return the character names in effect, sorted."""
        return sorted({_token_name(token) for token in self.state()["group"].values()} - {""})

    # -- applying ------------------------------------------------------------------------

    def apply(self, table: pd.DataFrame, labels=None) -> pd.DataFrame:
        """Return the faces table of a run with the corrections applied.

        Parameters
        ----------
        table : DataFrame
            Faces table of a run (``load_run_faces`` or ``RunResult.faces``).
        labels : array-like of int, optional
            Cluster labels of the run with noise as -1, aligned with ``table``.
            When None, ``table["cluster"]`` is used with ``table["noise"]``.

        Returns
        -------
        DataFrame
            A copy of ``table``, plus a row for each face added by hand that
            matches no row. Its columns ``cluster`` and ``noise`` are
            corrected, and it gains ``name`` (character or ""), ``group``
            (group token of the face's cluster or ""), ``rejected``,
            ``added``, ``manual``, ``run_cluster`` (the run's cluster, noise as
            singletons) and ``run_row`` (row in ``table``, -1 for added faces).
            ``attrs["unmatched_faces"]`` lists registered faces found in no row.

        Notes
        -----
        The rule is in the module docstring. Cost is O(n + g * c) for n faces,
        g groups and c clusters, plus the Hungarian matching, O(g^2 * c).
        """
        from comicfaces.pipeline import noise_as_singletons

        view = table.copy().reset_index(drop=True)
        view = view.drop(columns=[c for c in VIEW_COLUMNS if c in view and c not in ("cluster", "noise")])
        raw = _raw_labels(view, labels)
        base = noise_as_singletons(raw) if len(raw) else raw.copy()
        view["run_row"] = np.arange(len(view), dtype=np.int64)
        view["run_cluster"] = base
        view["noise"] = raw == -1
        view["added"] = False

        state = self.state()
        referenced = {face: self.faces[face] for face in self._referenced(state) if face in self.faces}
        matches = match_faces(referenced, view)
        view = self._append_added(view, state["added"], matches)
        unmatched = sorted(face for face in referenced if face not in matches)

        n = len(view)
        row_group: list[str | None] = [None] * n
        manual = np.zeros(n, dtype=bool)
        rejected = np.zeros(n, dtype=bool)
        for face, row in matches.items():
            row_group[row] = state["group"].get(face)
            manual[row] = face in state["manual"] and face in state["group"]
            rejected[row] = face in state["rejected"]

        clusters = view["run_cluster"].to_numpy(dtype=np.int64)
        counted = ~manual & ~rejected
        home, cluster_group, merged_into = _carry_groups(clusters, row_group, counted)

        final = np.array([merged_into.get(int(c), int(c)) for c in clusters], dtype=np.int64)
        next_id = int(clusters.max()) + 1 if n else 0
        for token in sorted({row_group[i] for i in np.flatnonzero(manual)} - set(home)):
            home[token] = next_id
            cluster_group[next_id] = token
            next_id += 1
        for i in np.flatnonzero(manual):
            final[i] = home[row_group[i]]

        groups = [cluster_group.get(int(c), "") for c in final]
        view["cluster"] = final
        view["group"] = groups
        view["name"] = ["" if rejected[i] else _token_name(groups[i]) for i in range(n)]
        view["rejected"] = rejected
        view["manual"] = manual
        view["noise"] = view["noise"].to_numpy(dtype=bool) & (np.array(groups) == "") & ~manual
        view.attrs["unmatched_faces"] = unmatched
        if unmatched:
            logger.info("%d corrected face(s) not found in this run's table", len(unmatched))
        return view

    def _referenced(self, state: dict) -> set[str]:
        return set(state["group"]) | state["manual"] | state["rejected"] | set(state["added"])

    def _append_added(self, view: pd.DataFrame, added: Mapping[str, dict], matches: dict[str, int]) -> pd.DataFrame:
        rows = []
        next_cluster = int(view["run_cluster"].max()) + 1 if len(view) else 0
        for face, entry in added.items():
            if face in matches:
                continue
            x0, y0, x1, y1 = entry["box"]
            crop = ""
            if self.workspace is not None:
                crop = str(self.workspace.entry_dir(ADDED_STAGE, entry["added"]["key"]) / "crop_0000.png")
            rows.append(
                {
                    "face_id": face,
                    "page": entry["page"],
                    "page_index": entry["added"]["page_index"],
                    "panel": -1,
                    "x0": x0,
                    "y0": y0,
                    "x1": x1,
                    "y1": y1,
                    "detector": "manual",
                    "score": float("nan"),
                    "crop": crop,
                    "noise": True,
                    "added": True,
                    "run_row": -1,
                    "run_cluster": next_cluster,
                }
            )
            next_cluster += 1
        if not rows:
            return view
        start = len(view)
        extra = pd.DataFrame(rows)
        combined = pd.concat([view, extra], ignore_index=True) if len(view) else extra
        for offset, face in enumerate(row["face_id"] for row in rows):
            matches[face] = start + offset
        return combined.astype({"run_row": np.int64, "run_cluster": np.int64, "added": bool, "noise": bool})

    # -- actions -----------------------------------------------------------------------

    def name_cluster(self, view: pd.DataFrame, cluster: int, name: str) -> dict:
        """Name every face of a cluster of ``view``.

        A name already in use elsewhere makes the clusters one character,
        which merges them.
        """
        name = _check_name(name)
        faces = self._cluster_faces(view, cluster)
        return self._append("name", faces=faces, name=name, cluster=int(cluster))

    def rename(self, old: str, new: str) -> dict:
        """Rename a character everywhere; renaming onto an existing name merges the two."""
        old = _check_name(old, "old")
        new = _check_name(new, "new")
        if old not in self.names():
            raise CorrectionsError(f"old name {old!r} not found; the names in use are {self.names()}")
        if old == new:
            raise CorrectionsError(f"new name {new!r} is the same as the old one")
        return self._append("rename", old=old, new=new)

    def merge_clusters(self, view: pd.DataFrame, clusters: Sequence[int], name: str | None = None) -> dict:
        """Merge clusters of ``view`` into one.

        The merged cluster keeps the one name among them, or ``name`` when
        given. Clusters with two different names need ``name``.
        """
        clusters = _unique_clusters(clusters)
        if len(clusters) < 2:
            raise CorrectionsError(f"clusters must name two clusters or more, got {clusters}")
        faces = []
        for cluster in clusters:
            faces.extend(self._cluster_faces(view, cluster))
        tokens = {token for token in _column(view, "group")[view["cluster"].isin(clusters).to_numpy()] if token}
        if name is not None:
            token = "n:" + _check_name(name)
        else:
            named = sorted(token for token in tokens if token.startswith("n:"))
            if len(named) > 1:
                raise CorrectionsError(
                    f"clusters {clusters} have different names {[t[2:] for t in named]}; pass name= to choose the merged name"
                )
            unnamed = sorted(token for token in tokens if token.startswith("g:"))
            if named:
                token = named[0]
            elif unnamed:
                token = unnamed[0]
            else:
                token = "g:" + uuid.uuid4().hex[:12]
        return self._append("merge", faces=faces, group=token, clusters=clusters)

    def move_faces(
        self,
        view: pd.DataFrame,
        face_ids: Sequence[str],
        *,
        to_cluster: int | None = None,
        to_name: str | None = None,
    ) -> dict:
        """Move faces by hand into another cluster of ``view`` or to a character name.

        Moved faces keep that place in every later clustering.
        """
        if (to_cluster is None) == (to_name is None):
            raise CorrectionsError("give exactly one target: to_cluster or to_name")
        faces = self._faces(view, face_ids)
        target_faces: list[str] = []
        if to_name is not None:
            token = "n:" + _check_name(to_name, "to_name")
        else:
            target_faces = self._cluster_faces(view, to_cluster)
            token = _cluster_token(view, to_cluster) or "g:" + uuid.uuid4().hex[:12]
            if _cluster_token(view, to_cluster):
                target_faces = []
        fields = {"faces": faces, "group": token}
        if target_faces:
            fields["target_faces"] = [face for face in target_faces if face not in faces]
        return self._append("move", **fields)

    def split_faces(self, view: pd.DataFrame, face_ids: Sequence[str]) -> dict:
        """Move a selection of faces by hand out of their cluster into a new one."""
        faces = self._faces(view, face_ids)
        return self._append("split", parts=[faces], groups=["g:" + uuid.uuid4().hex[:12]])

    def split_cluster(
        self,
        view: pd.DataFrame,
        cluster: int,
        features,
        *,
        k: int | None = 2,
        clusterer: str = "kmeans",
        params: Mapping | None = None,
    ) -> dict:
        """Split a cluster by clustering its faces again.

        Parameters
        ----------
        view : DataFrame
            Output of :meth:`apply`.
        cluster : int
            Cluster of ``view`` to split.
        features : array-like of shape (n_run_faces, d)
            Features or embedding of the run, aligned with the run's faces table
            (``view["run_row"]``).
        k : int or None
            Number of parts, passed as ``n_clusters``; None for methods that
            choose it, such as ``"hdbscan"``.
        clusterer : str
            Registry name of the clustering method (``comicfaces.clustering``).
        params : dict, optional
            Other parameters of the method.

        Notes
        -----
        The largest part stays in place, with the cluster's name; every other
        part is moved by hand into a new unnamed cluster. Faces the method
        leaves as noise, and faces added by hand (which have no features),
        stay in place.
        """
        from comicfaces.clustering import make_clusterer

        self._cluster_faces(view, cluster)
        features = np.asarray(features, dtype=np.float64)
        rows = view[(view["cluster"] == cluster) & ~view["rejected"] & (view["run_row"] >= 0)]
        if features.ndim != 2 or len(features) <= int(view["run_row"].max() if len(view) else -1):
            raise CorrectionsError(
                f"features must be a 2-D array with one row per face of the run's table, got shape {features.shape}"
            )
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
                raise CorrectionsError(f"k must be an integer >= 2 or None, got {k!r}")
            if k > len(rows):
                raise CorrectionsError(f"k={k} is more than the {len(rows)} faces with features in cluster {cluster}")
        settings = dict(params or {})
        if k is not None:
            settings["n_clusters"] = int(k)
        try:
            method = make_clusterer(clusterer, **settings)
        except (TypeError, ValueError) as error:
            raise CorrectionsError(f"clusterer {clusterer!r} with {settings}: {error}") from error
        parts_labels = np.asarray(method.fit_predict(features[rows["run_row"].to_numpy()]), dtype=np.int64)

        doc_ids = self._register(rows)
        parts: dict[int, list[str]] = {}
        for face, label in zip(doc_ids, parts_labels):
            if label >= 0:
                parts.setdefault(int(label), []).append(face)
        if len(parts) < 2:
            raise CorrectionsError(f"{clusterer} found {len(parts)} group(s) in cluster {cluster}; nothing to split")
        ordered = sorted(parts.values(), key=lambda part: (-len(part), part[0]))
        moved = ordered[1:]
        groups = ["g:" + uuid.uuid4().hex[:12] for _ in moved]
        method_record = {"clusterer": clusterer, "params": settings, "cluster": int(cluster)}
        return self._append("split", parts=moved, groups=groups, method=method_record)

    def reject_faces(self, view: pd.DataFrame, face_ids: Sequence[str], rejected: bool = True) -> dict:
        """Mark boxes as not a face (or clear the mark with ``rejected=False``)."""
        if not isinstance(rejected, bool):
            raise CorrectionsError(f"rejected must be True or False, got {rejected!r}")
        return self._append("reject", faces=self._faces(view, face_ids), rejected=rejected)

    def reset_faces(self, view: pd.DataFrame, face_ids: Sequence[str]) -> dict:
        """Forget the name, group, manual place and rejection of faces."""
        return self._append("reset", faces=self._faces(view, face_ids))

    def assign_names(self, view: pd.DataFrame, names: Mapping[str, str], *, manual: bool = False, source: str | None = None) -> dict:
        """Name single faces (face id of ``view`` to name), as one action.

        With ``manual=True`` the faces are also moved by hand, so they keep
        their name in every clustering.
        """
        if not isinstance(manual, bool):
            raise CorrectionsError(f"manual must be True or False, got {manual!r}")
        if not names:
            raise CorrectionsError("names is empty: give at least one face id and name")
        checked = {face: _check_name(name, f"name of face {face!r}") for face, name in names.items()}
        doc_ids = self._faces(view, list(checked))
        fields = {"names": dict(zip(doc_ids, checked.values())), "manual": manual}
        if source:
            fields["source"] = str(source)
        return self._append("assign", **fields)

    def add_face(
        self,
        workspace: Workspace,
        record: Mapping,
        page: str,
        box: Sequence[float],
        *,
        name: str | None = None,
        margin: float | None = None,
    ) -> dict:
        """Add a face the detector missed, and cut and cache its crop.

        Parameters
        ----------
        workspace : Workspace
            Cache for the crop (stage ``added_faces``).
        record : dict
            Run record of a page run of this input; gives the pages and the
            default margin.
        page : str
            Page id, as in the faces table's ``page`` column.
        box : sequence of 4 numbers
            ``(x0, y0, x1, y1)`` in pixels of the original page, ends exclusive.
        name : str, optional
            Character name; the face is then placed by hand with that name,
            otherwise it is a cluster of its own, marked as noise.
        margin : float, optional
            Share of the box added on every side of the crop; the run's
            ``faces.margin`` when None.

        Notes
        -----
        In a table with a detected face on the same page at IoU >= 0.5, the
        detected face takes the added face's place and its corrections (see
        :func:`match_faces`), so the face is not listed twice.
        """
        from comicfaces.boxes import expand_boxes
        from comicfaces.cache import make_key
        from comicfaces.imageio import list_pages, load_page, page_digest, save_image

        source = record.get("input") or {}
        if source.get("kind") != "pages":
            raise CorrectionsError(f"faces can be added to page runs only; run {record.get('key')!r} has input kind {source.get('kind')!r}")
        pages = list_pages(source["path"])
        by_id = {p.page_id: (index, p) for index, p in enumerate(pages)}
        if page not in by_id:
            shown = ", ".join(list(by_id)[:5])
            raise CorrectionsError(f"page {page!r} not found among the {len(pages)} pages of {source['path']} ({shown}, ...)")
        page_index, page_source = by_id[page]
        if margin is None:
            margin = float(((record.get("config") or {}).get("faces") or {}).get("margin", 0.2))
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 2:
            raise CorrectionsError(f"margin must be a number in [0, 2], got {margin!r}")
        token = "n:" + _check_name(name) if name is not None else None

        image, _ = load_page(page_source, max_side=None)
        height, width = image.shape[:2]
        box = _check_box(box, width, height, page)
        key = make_key(ADDED_STAGE, page_digest(page_source), {"box": box, "margin": float(margin)})
        if not workspace.has(ADDED_STAGE, key):
            x0, y0, x1, y1 = expand_boxes([box], margin, width, height).astype(int)[0]
            with workspace.writing(ADDED_STAGE, key, {"page": page, "box": box}) as folder:
                save_image(folder / "crop_0000.png", image[y0:y1, x0:x1])
        self.workspace = self.workspace or workspace

        face = self._free_id(f"p{page_index:04d}_a{uuid.uuid4().hex[:8]}")
        self.faces[face] = {"page": page, "box": box, "added": {"key": key, "page_index": page_index}}
        return self._append("add", face=face, group=token)

    # -- resolving views -------------------------------------------------------------------

    def _register(self, rows: pd.DataFrame) -> list[str]:
        """Return the registry id of each row, registering faces seen for the first time."""
        entries = {}
        for _, row in rows.iterrows():
            box = _box_of(row) if _has_boxes(rows) else None
            entries[str(row["face_id"])] = {"page": str(row["page"]) if box is not None else None, "box": box}

        # Registered faces are found by page and box, so a run with other
        # detection parameters reuses the ids of the same physical faces.
        known = match_faces(self.faces, pd.DataFrame(
            [{"face_id": face, "page": e["page"], **dict(zip(BOX_COLUMNS, e["box"] or [None] * 4))} for face, e in entries.items()]
        )) if self.faces and entries else {}
        row_to_known = {row: face for face, row in known.items()}
        ids = []
        for position, (face, entry) in enumerate(entries.items()):
            if position in row_to_known:
                ids.append(row_to_known[position])
                continue
            new_id = self._free_id(face)
            self.faces[new_id] = entry
            ids.append(new_id)
        return ids

    def _free_id(self, face: str) -> str:
        if face not in self.faces:
            return face
        suffix = 2
        while f"{face}~{suffix}" in self.faces:
            suffix += 1
        return f"{face}~{suffix}"

    def _faces(self, view: pd.DataFrame, face_ids: Sequence[str]) -> list[str]:
        _check_view(view)
        if isinstance(face_ids, str) or not isinstance(face_ids, Sequence) or not face_ids:
            raise CorrectionsError(f"face_ids must be a non-empty list of face ids, got {face_ids!r}")
        wanted = [str(face) for face in face_ids]
        rows = view.set_index(view["face_id"].astype(str))
        missing = [face for face in wanted if face not in rows.index]
        if missing:
            raise CorrectionsError(f"face id(s) {missing[:5]} not found in the table ({len(view)} faces)")
        return self._register(rows.loc[list(dict.fromkeys(wanted))].reset_index(drop=True))

    def _cluster_faces(self, view: pd.DataFrame, cluster) -> list[str]:
        _check_view(view)
        if isinstance(cluster, bool) or not isinstance(cluster, (int, np.integer)):
            raise CorrectionsError(f"cluster must be an integer cluster of the table, got {cluster!r}")
        rows = view[(view["cluster"] == int(cluster)) & ~view["rejected"].astype(bool)]
        if rows.empty:
            known = sorted(set(view["cluster"].astype(int)))
            raise CorrectionsError(f"cluster {cluster} not found in the table; its clusters are {known[:20]}")
        return self._register(rows)


# -- carrying groups to clusters -----------------------------------------------------------


def _carry_groups(clusters: np.ndarray, row_group: list, counted: np.ndarray) -> tuple[dict, dict, dict]:
    """Match groups to run clusters by the rule of the module docstring.

    Returns ``(home, cluster_group, merged_into)``: group token to home cluster,
    cluster to group token, and merged cluster to the home it joins.
    """
    from scipy.optimize import linear_sum_assignment

    size: dict[int, int] = {}
    for cluster in clusters[counted]:
        size[int(cluster)] = size.get(int(cluster), 0) + 1
    tokens = sorted({row_group[i] for i in np.flatnonzero(counted) if row_group[i]})
    ids = sorted({int(clusters[i]) for i in np.flatnonzero(counted) if row_group[i]})
    home: dict[str, int] = {}
    cluster_group: dict[int, str] = {}
    merged_into: dict[int, int] = {}
    if not tokens:
        return home, cluster_group, merged_into

    token_index = {token: i for i, token in enumerate(tokens)}
    cluster_index = {cluster: j for j, cluster in enumerate(ids)}
    overlap = np.zeros((len(tokens), len(ids)), dtype=np.int64)
    for i in np.flatnonzero(counted):
        if row_group[i]:
            overlap[token_index[row_group[i]], cluster_index[int(clusters[i])]] += 1
    sizes = np.array([size[cluster] for cluster in ids], dtype=np.int64)
    majority = 2 * overlap > sizes[None, :]

    rows, columns = linear_sum_assignment(overlap, maximize=True)
    for i, j in zip(rows, columns):
        if majority[i, j]:
            home[tokens[i]] = ids[j]
            cluster_group[ids[j]] = tokens[i]

    rest = [j for j in range(len(ids)) if ids[j] not in cluster_group and majority[:, j].any()]
    rest.sort(key=lambda j: (-int(overlap[:, j].max()), ids[j]))
    for j in rest:
        token = tokens[int(np.argmax(majority[:, j]))]
        if token in home:
            merged_into[ids[j]] = home[token]
        else:
            home[token] = ids[j]
            cluster_group[ids[j]] = token
    return home, cluster_group, merged_into


# -- validation --------------------------------------------------------------------------


def _raw_labels(view: pd.DataFrame, labels) -> np.ndarray:
    if labels is None:
        if len(view) == 0:
            return np.zeros(0, dtype=np.int64)
        if "cluster" not in view:
            raise CorrectionsError("the table has no 'cluster' column; pass labels= with the run's cluster labels")
        raw = view["cluster"].to_numpy(dtype=np.int64).copy()
        if "noise" in view:
            raw[view["noise"].to_numpy(dtype=bool)] = -1
        return raw
    raw = np.asarray(labels)
    if raw.ndim != 1 or len(raw) != len(view) or (raw.size and not np.issubdtype(raw.dtype, np.integer)):
        raise CorrectionsError(
            f"labels must be a 1-D integer array with one label per face ({len(view)}), got shape {raw.shape} and dtype {raw.dtype}"
        )
    return raw.astype(np.int64)


def _check_view(view) -> None:
    if not isinstance(view, pd.DataFrame) or "group" not in view or "run_row" not in view:
        raise CorrectionsError("view must be the table returned by Corrections.apply(), which has 'group' and 'run_row' columns")


def _column(view: pd.DataFrame, name: str) -> np.ndarray:
    return view[name].fillna("").astype(str).to_numpy()


def _cluster_token(view: pd.DataFrame, cluster: int) -> str:
    tokens = {t for t in _column(view, "group")[(view["cluster"] == int(cluster)).to_numpy()] if t}
    return sorted(tokens)[0] if tokens else ""


def _unique_clusters(clusters) -> list[int]:
    if isinstance(clusters, (str, bytes)) or not isinstance(clusters, Iterable):
        raise CorrectionsError(f"clusters must be a list of cluster numbers, got {clusters!r}")
    result = []
    for cluster in clusters:
        if isinstance(cluster, bool) or not isinstance(cluster, (int, np.integer)):
            raise CorrectionsError(f"clusters must contain integers, got {cluster!r}")
        if int(cluster) not in result:
            result.append(int(cluster))
    return result


def _check_box(box, width: int, height: int, page: str) -> list[int]:
    values = list(box) if isinstance(box, (list, tuple, np.ndarray)) else None
    if values is None or len(values) != 4:
        raise CorrectionsError(f"box must be 4 numbers (x0, y0, x1, y1), got {box!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
            raise CorrectionsError(f"box values must be finite numbers, got {box!r}")
    x0, y0, x1, y1 = (int(round(float(v))) for v in values)
    if x1 <= x0 or y1 <= y0:
        raise CorrectionsError(f"box {box!r} is empty: x1 must exceed x0 and y1 must exceed y0")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise CorrectionsError(f"box {box!r} extends outside page {page!r} ({width}x{height} pixels)")
    return [x0, y0, x1, y1]


def _same_face(a: Mapping, b: Mapping) -> bool:
    if a.get("box") is None or b.get("box") is None:
        return a.get("page") == b.get("page") and a.get("box") == b.get("box")
    from comicfaces.boxes import iou_matrix

    return a.get("page") == b.get("page") and iou_matrix([a["box"]], [b["box"]])[0, 0] >= MATCH_IOU


def _rename_faces(action: dict, renamed: Mapping[str, str]) -> dict:
    if not renamed:
        return dict(action)
    action = dict(action)
    for field in ("faces", "target_faces"):
        if field in action:
            action[field] = [renamed.get(face, face) for face in action[field]]
    if "parts" in action:
        action["parts"] = [[renamed.get(face, face) for face in part] for part in action["parts"]]
    if "names" in action:
        action["names"] = {renamed.get(face, face): name for face, name in action["names"].items()}
    if "face" in action:
        action["face"] = renamed.get(action["face"], action["face"])
    return action


def _check_face_entry(entry, where: str) -> dict:
    if not isinstance(entry, dict):
        raise CorrectionsError(f"{where}: must be an object with 'page' and 'box'")
    page, box = entry.get("page"), entry.get("box")
    if page is not None and not isinstance(page, str):
        raise CorrectionsError(f"{where}: 'page' must be a string or null, got {page!r}")
    if box is not None:
        if (
            not isinstance(box, list)
            or len(box) != 4
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in box)
        ):
            raise CorrectionsError(f"{where}: 'box' must be 4 finite numbers [x0, y0, x1, y1], got {box!r}")
        if page is None:
            raise CorrectionsError(f"{where}: a face with a 'box' needs its 'page'")
    checked = {"page": page, "box": list(box) if box is not None else None}
    added = entry.get("added")
    if added is not None:
        if (
            not isinstance(added, dict)
            or not isinstance(added.get("key"), str)
            or not _HEX_KEY.match(added["key"])
            or isinstance(added.get("page_index"), bool)
            or not isinstance(added.get("page_index"), int)
            or box is None
        ):
            raise CorrectionsError(f"{where}: 'added' must be {{'key': hex cache key, 'page_index': int}} on a face with a box")
        checked["added"] = {"key": added["key"], "page_index": added["page_index"]}
    return checked


def _check_faces_field(action: dict, field: str, where: str, registry: Mapping, allow_empty: bool = False) -> None:
    faces = action.get(field)
    if not isinstance(faces, list) or (not faces and not allow_empty):
        raise CorrectionsError(f"{where}: '{field}' must be a non-empty list of face ids")
    unknown = [face for face in faces if not isinstance(face, str) or face not in registry]
    if unknown:
        raise CorrectionsError(f"{where}: '{field}' names faces missing from 'faces': {unknown[:5]}")


def _check_token(token, where: str, field: str = "group") -> None:
    if not isinstance(token, str) or not (token.startswith("n:") or token.startswith("g:")) or len(token) < 3:
        raise CorrectionsError(f"{where}: '{field}' must be a group token 'n:<name>' or 'g:<id>', got {token!r}")
    if token.startswith("n:"):
        try:
            _check_name(token[2:], field)
        except CorrectionsError as error:
            raise CorrectionsError(f"{where}: {error}") from None


def _check_action(action, where: str, registry: Mapping) -> None:
    """Raise CorrectionsError naming ``where`` and the field unless ``action`` is well formed."""
    if not isinstance(action, dict):
        raise CorrectionsError(f"{where}: must be an object")
    if not isinstance(action.get("uid"), str) or not action["uid"]:
        raise CorrectionsError(f"{where}: 'uid' must be a non-empty string")
    if not isinstance(action.get("time"), str):
        raise CorrectionsError(f"{where}: 'time' must be an ISO 8601 string")
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        raise CorrectionsError(f"{where}: 'type' must be one of {list(ACTION_TYPES)}, got {kind!r}")

    try:
        if kind == "name":
            _check_faces_field(action, "faces", where, registry)
            _check_name(action.get("name"))
        elif kind == "rename":
            _check_name(action.get("old"), "old")
            _check_name(action.get("new"), "new")
        elif kind == "merge":
            _check_faces_field(action, "faces", where, registry)
            _check_token(action.get("group"), where)
        elif kind == "move":
            _check_faces_field(action, "faces", where, registry)
            _check_token(action.get("group"), where)
            if "target_faces" in action:
                _check_faces_field(action, "target_faces", where, registry, allow_empty=True)
        elif kind == "split":
            parts, groups = action.get("parts"), action.get("groups")
            if not isinstance(parts, list) or not isinstance(groups, list) or len(parts) != len(groups) or not parts:
                raise CorrectionsError(f"{where}: 'parts' and 'groups' must be non-empty lists of equal length")
            for index, part in enumerate(parts):
                _check_faces_field({"part": part}, "part", f"{where}: parts[{index}]", registry)
                _check_token(groups[index], where, f"groups[{index}]")
        elif kind in ("reject", "reset"):
            _check_faces_field(action, "faces", where, registry)
            if kind == "reject" and not isinstance(action.get("rejected"), bool):
                raise CorrectionsError(f"{where}: 'rejected' must be true or false")
        elif kind == "add":
            face = action.get("face")
            if not isinstance(face, str) or "added" not in (registry.get(face) or {}):
                raise CorrectionsError(f"{where}: 'face' must name an added face of 'faces', got {face!r}")
            if action.get("group") is not None:
                _check_token(action["group"], where)
        elif kind == "assign":
            names = action.get("names")
            if not isinstance(names, dict) or not names:
                raise CorrectionsError(f"{where}: 'names' must be a non-empty object of face id to name")
            _check_faces_field({"names": list(names)}, "names", where, registry)
            for name in names.values():
                _check_name(name)
            if not isinstance(action.get("manual"), bool):
                raise CorrectionsError(f"{where}: 'manual' must be true or false")
        elif kind in ("undo", "redo"):
            if not isinstance(action.get("target"), str):
                raise CorrectionsError(f"{where}: 'target' must be the uid of an action")
    except CorrectionsError as error:
        message = str(error)
        raise CorrectionsError(message if message.startswith(where) else f"{where}: {message}") from None


# -- labels for evaluation -------------------------------------------------------------------


def identities_for(table: pd.DataFrame, corrections: Corrections, *, include_unnamed: bool = False) -> list[str | None]:
    """Return the identity the corrections give each face of a run's table.

    Faces are matched to the corrected faces by page and box (IoU >= 0.5), or
    by id for runs on a folder of crops, so ``table`` may come from any run of
    the same input, including one with other detection parameters.

    Parameters
    ----------
    table : DataFrame
        Faces table of a run (``load_run_faces``).
    corrections : Corrections
    include_unnamed : bool
        Give faces of unnamed groups (merged or split without a name) the
        identity ``group_<id>``; they are None otherwise.

    Returns
    -------
    list of str or None
        One entry per row: the name given to the face by hand (naming its
        cluster, moving or labelling it), or None for faces never named,
        rejected faces and faces that match no corrected face.

    Notes
    -----
    These are face-level labels: a face gets a name only where a person gave
    it one, never because a clustering put it beside named faces. Pass them to
    :func:`comicfaces.metrics.evaluate_clustering` as ``labels_true`` to score
    any configuration of the input (see :func:`score_against_corrections`).
    """
    state = corrections.state()
    entries = {face: corrections.faces[face] for face in corrections._referenced(state) if face in corrections.faces}
    matches = match_faces(entries, table.reset_index(drop=True))
    identities: list[str | None] = [None] * len(table)
    for face, row in matches.items():
        token = state["group"].get(face)
        if face in state["rejected"] or not token:
            continue
        if token.startswith("n:"):
            identities[row] = token[2:]
        elif include_unnamed:
            identities[row] = "group_" + token[2:]
    return identities


def labels_csv(corrections: Corrections, table: pd.DataFrame, *, include_unnamed: bool = False) -> pd.DataFrame:
    """Return the corrections as an ``image_name,identity`` labels table.

    ``image_name`` is the crop name of :func:`crop_file_names`, so the CSV
    labels the crops of ``write_outputs``/``export_crops`` for
    ``python -m comicfaces cluster CROPS --labels labels.csv`` and for
    :func:`comicfaces.metrics.labels_from_csv`. Only faces with an identity
    (see :func:`identities_for`) get a row.
    """
    identities = identities_for(table, corrections, include_unnamed=include_unnamed)
    names = crop_file_names(table)
    rows = [(name, identity) for name, identity in zip(names, identities) if identity is not None]
    return pd.DataFrame(rows, columns=["image_name", "identity"])


def score_against_corrections(table: pd.DataFrame, labels, corrections: Corrections, embedding=None) -> dict:
    """Score a run's clustering against the names of the corrections.

    ``labels`` are the run's cluster labels (noise -1) aligned with ``table``.
    Faces without a name are left out of the external scores; see
    :func:`comicfaces.metrics.evaluate_clustering` for the keys.
    """
    from comicfaces.metrics import evaluate_clustering

    return evaluate_clustering(identities_for(table, corrections), np.asarray(labels, dtype=np.int64), X=embedding)
