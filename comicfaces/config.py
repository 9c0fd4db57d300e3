"""Pipeline configuration: one section per stage, readable from YAML or JSON.

A configuration file has the sections ``panels``, ``text``, ``faces``,
``features``, ``reduction`` and ``clustering``. Each contains the parameters of its
stage, and any omitted parameter keeps its default::

    faces:
      min_size: 20
    features:
      name: color_hist
    clustering:
      name: kmeans
      params: {n_clusters: 12}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from comicfaces.detect import FaceConfig
from comicfaces.panels import PanelConfig
from comicfaces.text import TextConfig

__all__ = [
    "ClusteringConfig",
    "FeatureConfig",
    "PipelineConfig",
    "ReductionConfig",
    "load_config",
]


@dataclass(frozen=True)
class FeatureConfig:
    """Feature extractor of the features stage.

    Attributes
    ----------
    name : str
        Registry name of the extractor (see ``comicfaces.features.FEATURES``).
    params : dict
        Keyword parameters of the extractor; omitted ones keep its defaults.
    """

    name: str = "efficientnet"
    params: dict = field(default_factory=dict)

    def validate(self) -> None:
        from comicfaces.features import make_features

        make_features(self.name, **self.params)


@dataclass(frozen=True)
class ReductionConfig:
    """Dimensionality reduction applied to the features before clustering."""

    name: str = "none"
    params: dict = field(default_factory=dict)

    def validate(self) -> None:
        from comicfaces.reduction import make_reducer

        make_reducer(self.name, **self.params)


@dataclass(frozen=True)
class ClusteringConfig:
    """Clustering method.

    The default does not need the number of characters: average-linkage
    agglomerative clustering on cosine distance, k chosen by silhouette, and
    faces of one panel kept apart (two faces in one panel are rarely the same
    character). It scored best across the labelled sets measured, see
    ``docs/results.md``.
    """

    name: str = "agglomerative"
    params: dict = field(
        default_factory=lambda: {"n_clusters": "auto", "linkage": "average", "metric": "cosine", "cannot_link": True}
    )

    def validate(self) -> None:
        from comicfaces.clustering import make_clusterer

        make_clusterer(self.name, **self.params)


@dataclass(frozen=True)
class PipelineConfig:
    """Parameters of every stage of the pipeline."""

    panels: PanelConfig = field(default_factory=PanelConfig)
    text: TextConfig = field(default_factory=TextConfig)
    faces: FaceConfig = field(default_factory=FaceConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    reduction: ReductionConfig = field(default_factory=ReductionConfig)
    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)

    def validate(self) -> "PipelineConfig":
        """Check every section; raise ValueError naming the bad parameter."""
        for section in dataclasses.fields(self):
            getattr(self, section.name).validate()
        return self

    def to_dict(self) -> dict:
        """Return the configuration as plain JSON-serialisable data."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "PipelineConfig":
        """Build a configuration from nested mappings, defaults filling the gaps.

        Raises ValueError naming any unknown section or parameter.
        """
        data = dict(data or {})
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ValueError(f"unknown configuration section(s) {unknown}; valid sections are {sorted(sections)}")
        values = {}
        for name, section in sections.items():
            section_type = section.default_factory().__class__
            values[name] = _build_section(section_type, name, data.get(name))
        return cls(**values).validate()

    def replace(self, **sections: Any) -> "PipelineConfig":
        """Return a copy with some sections replaced (dataclass instances or mappings)."""
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in sections.items():
            if name not in current:
                raise ValueError(f"unknown configuration section {name!r}")
            if isinstance(value, dict):
                base = dataclasses.asdict(current[name])
                if "name" in value and "params" not in value:
                    base.pop("params", None)
                value = _build_section(type(current[name]), name, {**base, **value})
            current[name] = value
        return PipelineConfig(**current).validate()


def _build_section(section_type: type, section_name: str, values: dict | None):
    if values is None:
        return section_type()
    if not isinstance(values, dict):
        raise ValueError(f"configuration section {section_name!r} must be a mapping, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(section_type)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} in section {section_name!r}; valid parameters are {sorted(known)}"
        )
    if "name" in values and "params" in known and "params" not in values:
        # A new method starts from its own defaults, not from another method's parameters.
        values = {**values, "params": {}}
    converted = {}
    for name, value in values.items():
        default = known[name].default
        # YAML and JSON have no tuples: convert lists back where the default is a tuple.
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        converted[name] = value
    return section_type(**converted)


def load_config(path: str | Path | None) -> PipelineConfig:
    """Read a YAML or JSON configuration file; ``None`` gives the defaults."""
    if path is None:
        return PipelineConfig().validate()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: invalid configuration file ({error})") from error
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"{path}: a configuration file must hold a mapping of sections")
    try:
        return PipelineConfig.from_dict(data)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error
