"""Session state shared by every page: the workspace, the input and the stage parameters.

Streamlit deletes the state of a widget when a page that does not draw it
runs, so the values every page needs are kept under their own keys
(:data:`WORKSPACE_KEY`, :data:`INPUT_KEY`, :data:`CONFIG_KEY`), never under a
widget key. A widget is drawn with ``value=`` read from these keys, and its
callback or form writes the new value back.

Defaults make every page work on a fresh machine: the workspace is
``$COMICFACES_WORKSPACE`` or ``~/.cache/comicfaces/workspace``, the input is
the demo comic and every stage uses its config defaults.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from comicfaces.cache import default_workspace_root

if TYPE_CHECKING:
    from comicfaces.config import PipelineConfig

logger = logging.getLogger(__name__)

WORKSPACE_KEY = "cf_workspace"
INPUT_KEY = "cf_input"
CONFIG_KEY = "cf_config"

#: Environment variable with the number of pages of the default demo comic.
DEMO_PAGES_ENV = "COMICFACES_DEMO_PAGES"
DEFAULT_DEMO_PAGES = 4
MAX_DEMO_PAGES = 24

INPUT_KINDS = ("demo", "folder", "uploads", "faces")


@dataclass(frozen=True)
class InputSpec:
    """Input of the dashboard.

    Attributes
    ----------
    kind : {"demo", "folder", "uploads", "faces"}
        ``demo``: the generated demo comic, with its ground truth.
        ``folder``: a folder of pages, one image or one ``.cbz`` (``paths[0]``).
        ``uploads``: uploaded pages and ``.cbz`` files stored in the workspace
        (``paths``), shown under their original file names (``names``).
        ``faces``: a folder of ready face crops (``paths[0]``); the page
        stages are skipped.
    paths : tuple of str
        Files or folders of the input; empty for the demo, whose folder is
        known only once it is generated in a workspace.
    names : tuple of str
        Display names of ``paths`` (uploads only).
    labels : str or None
        CSV ``image_name,identity`` of a face folder.
    demo_pages, demo_seed : int
        Size and random seed of the demo comic.
    """

    kind: str = "demo"
    paths: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    labels: str | None = None
    demo_pages: int = DEFAULT_DEMO_PAGES
    demo_seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind {self.kind!r}; use one of {', '.join(INPUT_KINDS)}")
        object.__setattr__(self, "paths", tuple(str(p) for p in self.paths))
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))

    @property
    def has_pages(self) -> bool:
        """True when the input is comic pages, False for a folder of face crops."""
        return self.kind != "faces"

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as plain data, the form in which cached functions take it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        """Build a spec from :meth:`to_dict` output."""
        return cls(**data)

    def describe(self) -> str:
        """Return a one-line description for captions."""
        if self.kind == "demo":
            return f"demo comic ({self.demo_pages} pages, seed {self.demo_seed})"
        if self.kind == "folder":
            return f"pages from {self.paths[0]}"
        if self.kind == "uploads":
            return f"{len(self.paths)} uploaded file(s): {', '.join(self.names[:5])}" + (" ..." if len(self.names) > 5 else "")
        labels = f" with labels {self.labels}" if self.labels else ""
        return f"face crops from {self.paths[0]}{labels}"


def default_demo_pages() -> int:
    """Return the demo size from ``$COMICFACES_DEMO_PAGES``, or the default of 4 pages."""
    text = os.environ.get(DEMO_PAGES_ENV, "").strip()
    if not text:
        return DEFAULT_DEMO_PAGES
    try:
        pages = int(text)
    except ValueError:
        pages = 0
    if not 1 <= pages <= MAX_DEMO_PAGES:
        logger.warning(
            "%s=%r is not a page count in [1, %d]; using %d demo pages",
            DEMO_PAGES_ENV, text, MAX_DEMO_PAGES, DEFAULT_DEMO_PAGES,
        )
        return DEFAULT_DEMO_PAGES
    return pages


def workspace_root() -> str:
    """Return the workspace folder of this session."""
    if WORKSPACE_KEY not in st.session_state:
        st.session_state[WORKSPACE_KEY] = str(default_workspace_root().expanduser())
    return st.session_state[WORKSPACE_KEY]


def set_workspace_root(root: str | Path) -> None:
    """Make ``root`` the workspace folder of this session."""
    st.session_state[WORKSPACE_KEY] = str(Path(root).expanduser())


def current_input() -> InputSpec:
    """Return the input of this session; the demo comic until the user picks another."""
    if INPUT_KEY not in st.session_state:
        st.session_state[INPUT_KEY] = InputSpec(demo_pages=default_demo_pages()).to_dict()
    return InputSpec.from_dict(st.session_state[INPUT_KEY])


def set_input(spec: InputSpec) -> None:
    """Make ``spec`` the input of this session; every page recomputes from it."""
    st.session_state[INPUT_KEY] = spec.to_dict()


def current_config() -> PipelineConfig:
    """Return the stage parameters of this session (defaults at first)."""
    from comicfaces.config import PipelineConfig

    if CONFIG_KEY not in st.session_state:
        st.session_state[CONFIG_KEY] = PipelineConfig()
    return st.session_state[CONFIG_KEY]


def set_config_section(section: str, value: Any) -> PipelineConfig:
    """Replace one section of the session's config; raise ValueError for invalid values.

    ``value`` is a section dataclass or a mapping of its fields. The session
    keeps its old config when validation fails.
    """
    config = current_config().replace(**{section: value})
    st.session_state[CONFIG_KEY] = config
    return config


def reset_config_section(section: str) -> PipelineConfig:
    """Put one section of the session's config back to its defaults."""
    from comicfaces.config import PipelineConfig

    default = getattr(PipelineConfig(), section)
    return set_config_section(section, default)
