"""Parameter forms built from the stage config dataclasses.

Each field of a frozen config dataclass becomes one widget, picked by the
field's type:

- ``bool``: a checkbox;
- ``int``, ``float``: a number input;
- ``str``: a select box when its allowed values are known (:data:`CHOICES`),
  else a text input;
- ``tuple[str, ...]``: a multiselect, or comma-separated text;
- ``tuple[dict, ...]`` (such as ``ConcatConfig.blocks``): a JSON text area
  holding a list of objects;
- one value or several (``int | tuple[int, ...]``, such as
  ``LocalDescriptorConfig.n_words``): a text input taking ``64`` or ``16, 32, 64``;
- ``dict``: a JSON text area;
- optional or mixed types (``int | float | None``): a text input parsed on submit.

The help text of a widget is the field's entry in the class docstring.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import types
import typing
from collections.abc import Callable
from typing import Any

import streamlit as st

logger = logging.getLogger(__name__)


def _detector_names() -> list[str]:
    from comicfaces.detect import DETECTORS

    return sorted(DETECTORS)


def _base_clusterer_names() -> list[str]:
    from comicfaces.clustering import CLUSTERERS, CannotLinkSplit

    return sorted(name for name, cls in CLUSTERERS.items() if cls is not CannotLinkSplit)


def _constant(module: str, name: str) -> Callable[[], list[str]]:
    def read() -> list[str]:
        import importlib

        return list(getattr(importlib.import_module(module), name))

    return read


#: Allowed values of string fields, by ``ConfigClass.field``; read lazily from the stage
#: modules. A string field not listed here gets a text input, and validation names
#: the allowed values.
CHOICES: dict[str, Callable[[], list[str]]] = {
    "FaceConfig.detectors": _detector_names,
    "TextConfig.fill": _constant("comicfaces.text", "FILL_MODES"),
    "HOGConfig.block_norm": _constant("comicfaces.features.hog", "BLOCK_NORMS"),
    "ColorHistogramConfig.color_space": _constant("comicfaces.features.color", "COLOR_SPACES"),
    "LBPConfig.method": _constant("comicfaces.features.lbp", "LBP_METHODS"),
    "LocalDescriptorConfig.detector": _constant("comicfaces.features.local", "DETECTORS"),
    "LocalDescriptorConfig.encoding": _constant("comicfaces.features.codebook", "ENCODINGS"),
    "LocalDescriptorConfig.norm": _constant("comicfaces.features.local", "NORMS"),
    "EfficientNetConfig.pooling": _constant("comicfaces.features.cnn", "POOLINGS"),
    "EfficientNetConfig.resize": _constant("comicfaces.features.cnn", "RESIZE_MODES"),
    "HDBSCANConfig.metric": _constant("comicfaces.clustering", "HDBSCAN_METRICS"),
    "HDBSCANConfig.cluster_selection_method": _constant("comicfaces.clustering", "CLUSTER_SELECTION_METHODS"),
    "AgglomerativeConfig.linkage": _constant("comicfaces.clustering", "LINKAGES"),
    "AgglomerativeConfig.metric": _constant("comicfaces.clustering", "AGGLOMERATIVE_METRICS"),
    "DBSCANConfig.metric": _constant("comicfaces.clustering", "DBSCAN_METRICS"),
    "SpectralConfig.affinity": _constant("comicfaces.clustering", "SPECTRAL_AFFINITIES"),
    "RankOrderConfig.metric": _constant("comicfaces.clustering", "RANK_ORDER_METRICS"),
    "CannotLinkConfig.base": _base_clusterer_names,
    "CannotLinkConfig.unplaced": _constant("comicfaces.constraints", "UNPLACED_POLICIES"),
    "UMAPConfig.metric": _constant("comicfaces.reduction", "UMAP_METRICS"),
    "SimCLRConfig.backbone": _constant("comicfaces.features.simclr", "BACKBONES"),
    "SimCLRConfig.init": _constant("comicfaces.features.simclr", "INITS"),
    "SimCLRConfig.optimizer": _constant("comicfaces.features.simclr", "OPTIMIZERS"),
}


def _choices(cls: type, name: str) -> list[str] | None:
    read = CHOICES.get(f"{cls.__name__}.{name}")
    if read is None:
        return None
    try:
        return read()
    except (ImportError, AttributeError) as error:
        logger.warning("allowed values of %s.%s not found (%s); using a text input", cls.__name__, name, error)
        return None


def field_help(cls: type) -> dict[str, str]:
    """Return the description of each field in a numpydoc ``Attributes``/``Parameters`` section."""
    doc = cls.__doc__ or ""
    helps: dict[str, str] = {}
    current: list[str] | None = None
    for line in doc.splitlines():
        match = re.match(r"^\s{4}([A-Za-z_][\w, ]*?) : ", line) or re.match(r"^\s{4}([A-Za-z_]\w*)\s*$", line)
        if match and not line.startswith(" " * 8):
            current = []
            for name in match.group(1).split(","):
                helps[name.strip()] = current  # type: ignore[assignment]
            continue
        if current is not None and line.startswith(" " * 8):
            current.append(line.strip())
        elif current is not None and line.strip() and not line.startswith(" " * 8):
            current = None
    return {name: " ".join(lines) for name, lines in helps.items() if lines}


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError) as error:
        logger.debug("type hints of %s unresolved (%s); falling back to default values", cls.__name__, error)
        return {}


def _union_args(hint: Any) -> tuple:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


_SCALARS = (str, int, float)


def _is_mapping_type(hint: Any) -> bool:
    return hint is dict or typing.get_origin(hint) is dict


def _items_are_mappings(plain: list) -> bool:
    """Return True when a type hint is a sequence of mappings, such as ``tuple[dict, ...]``."""
    for hint in plain:
        if typing.get_origin(hint) in (tuple, list):
            items = [arg for arg in typing.get_args(hint) if arg is not Ellipsis]
            if items and all(_is_mapping_type(arg) for arg in items):
                return True
    return False


def _edited_as_json_list(value: Any, plain: list) -> bool:
    """Return True for a sequence field whose items are mappings or other non-scalars.

    The type hint decides when it is known, so an empty ``tuple[dict, ...]``
    still gets the JSON editor. Otherwise the current items decide.
    """
    if _items_are_mappings(plain):
        return True
    return isinstance(value, (tuple, list)) and any(not isinstance(v, _SCALARS) for v in value)


def _one_or_many_type(plain: list) -> type | None:
    """Return ``T`` when a field's type is ``T | tuple[T, ...]`` (or ``list[T]``) for a scalar ``T``."""
    scalars = [hint for hint in plain if hint in (int, float, str)]
    sequences = [hint for hint in plain if typing.get_origin(hint) in (tuple, list)]
    if len(scalars) != 1 or len(sequences) != 1 or len(plain) != 2:
        return None
    items = {arg for arg in typing.get_args(sequences[0]) if arg is not Ellipsis}
    return scalars[0] if items == {scalars[0]} else None


def parse_one_or_many(name: str, text: str, kind: type) -> Any:
    """Parse ``"64"`` into ``64`` and ``"16, 32, 64"`` (brackets allowed) into ``(16, 32, 64)``.

    Raises
    ------
    ValueError
        If the text is empty or an item is not a ``kind`` value; the message
        names the field and the item.
    """
    expected = f"give one {kind.__name__} or several separated by commas, such as 16, 32, 64"
    stripped = text.strip().strip("[]()").strip()
    if not stripped:
        raise ValueError(f"{name} is empty; {expected}")
    parts = [part.strip() for part in stripped.split(",")]
    if any(not part for part in parts):
        raise ValueError(f"{name}: {text!r} has an empty item; {expected}")
    values = []
    for part in parts:
        try:
            values.append(kind(part))
        except ValueError:
            raise ValueError(f"{name}: {part!r} in {text!r} is not a valid {kind.__name__}") from None
    return values[0] if len(values) == 1 else tuple(values)


def _parse_scalar(name: str, text: str, allowed: tuple) -> Any:
    """Parse a text input of a field whose type is a union such as ``int | float | None``."""
    text = text.strip()
    if text.lower() in ("", "none", "null") and type(None) in allowed:
        return None
    if int in allowed:
        try:
            return int(text)
        except ValueError:
            pass
    if float in allowed:
        try:
            return float(text)
        except ValueError:
            pass
    if str in allowed:
        return text
    names = ", ".join("None" if t is type(None) else getattr(t, "__name__", str(t)) for t in allowed)
    raise ValueError(f"{name}: {text!r} is not a valid value; expected {names}")


def field_widgets(config: Any, key_prefix: str, skip: tuple[str, ...] = ()) -> dict[str, Callable[[], Any]]:
    """Draw one widget per field of a config dataclass instance in the current container.

    Returns a mapping from field name to a function that returns the parsed
    value; call those after the form is submitted. Parsing raises ValueError
    naming the field. Fields in ``skip`` get no widget.
    """
    cls = type(config)
    hints = _type_hints(cls)
    helps = field_help(cls)
    readers: dict[str, Callable[[], Any]] = {}

    for item in dataclasses.fields(cls):
        name = item.name
        if name in skip:
            continue
        value = getattr(config, name)
        allowed = _union_args(hints.get(name, type(value)))
        key = f"{key_prefix}_{name}"
        label = name.replace("_", " ")
        help_text = helps.get(name)
        readers[name] = _field_widget(name, label, key, value, allowed, help_text, _choices(cls, name))
    return readers


def _field_widget(
    name: str, label: str, key: str, value: Any, allowed: tuple, help_text: str | None, choices: list[str] | None
) -> Callable[[], Any]:
    plain = [t for t in allowed if t is not type(None)]
    optional = type(None) in allowed

    if isinstance(value, bool) and plain == [bool]:
        result = st.checkbox(label, value=value, key=key, help=help_text)
        return lambda: bool(result)

    if _edited_as_json_list(value, plain):
        objects = _items_are_mappings(plain)
        shown = json.dumps(list(value or ()), indent=1, sort_keys=True)
        hint = " (JSON list of objects)" if objects else " (JSON list)"
        text = st.text_area(label, value=shown, key=key, help=(help_text or "") + hint, height=160)
        return lambda: parse_json_list(name, text, objects=objects)

    one_or_many = _one_or_many_type(plain)
    if one_or_many is not None and not optional:
        shown = ", ".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)
        text = st.text_input(
            label, value=shown, key=key, help=(help_text or "") + f" (one {one_or_many.__name__}, or several separated by commas)"
        )
        return lambda: parse_one_or_many(name, text, one_or_many)

    if isinstance(value, tuple) or typing.get_origin(plain[0] if plain else None) is tuple:
        if choices is not None:
            selected = st.multiselect(label, choices, default=[v for v in value if v in choices], key=key, help=help_text)
            return lambda: tuple(selected)
        text = st.text_input(label, value=", ".join(str(v) for v in value), key=key, help=(help_text or "") + " (comma-separated)")
        return lambda: _parse_tuple(name, text, value)

    if isinstance(value, dict) or dict in plain or typing.get_origin(plain[0] if plain else None) is dict:
        shown = "" if value is None else json.dumps(value, sort_keys=True)
        text = st.text_area(label, value=shown, key=key, help=(help_text or "") + " (JSON object)", height=80)
        return lambda: _parse_json_object(name, text, optional)

    if choices is not None and isinstance(value, str):
        index = choices.index(value) if value in choices else 0
        selected = st.selectbox(label, choices, index=index, key=key, help=help_text)
        return lambda: selected

    if len(plain) == 1 and plain[0] is int and not optional and isinstance(value, int):
        number = st.number_input(label, value=int(value), step=1, key=key, help=help_text)
        return lambda: int(number)

    if len(plain) == 1 and plain[0] is float and not optional and isinstance(value, (int, float)):
        step = 5.0
        if abs(value) <= 20:
            step = 0.5
        if abs(value) <= 1:
            step = 0.05
        number = st.number_input(label, value=float(value), step=step, format="%.3f", key=key, help=help_text)
        return lambda: float(number)

    if plain == [str]:
        text = st.text_input(label, value="" if value is None else str(value), key=key, help=help_text)
        if optional:
            return lambda: text.strip() or None
        return lambda: text

    text = st.text_input(label, value="None" if value is None else str(value), key=key, help=help_text)
    return lambda: _parse_scalar(name, text, tuple(allowed) if allowed else (type(value),))


def _parse_tuple(name: str, text: str, default: tuple) -> tuple:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    kind = type(default[0]) if default else str
    try:
        return tuple(kind(part) for part in parts)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a comma-separated list of {kind.__name__} values") from None


def _parse_json_object(name: str, text: str, optional: bool = False) -> dict | None:
    if optional and text.strip() in ("", "null", "None"):
        return None
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"{name}: invalid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name}: expected a JSON object such as {{\"key\": 1}}, got {type(value).__name__}")
    return value


def parse_json_list(name: str, text: str, objects: bool = False) -> tuple:
    """Parse a JSON list into a tuple; with ``objects``, every item must be a JSON object.

    Raises
    ------
    ValueError
        For invalid JSON (with the line and column), a value that is not a
        list, or with ``objects`` an item that is not an object (with its index).
    """
    try:
        value = json.loads(text or "[]")
    except json.JSONDecodeError as error:
        raise ValueError(f"{name}: invalid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    example = '[{"name": "hog", "weight": 1.0}]' if objects else "[1, 2]"
    if not isinstance(value, list):
        raise ValueError(f"{name}: expected a JSON list such as {example}, got a JSON {_json_kind(value)}")
    if objects:
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise ValueError(f"{name}[{index}]: expected a JSON object such as {{\"name\": \"hog\"}}, got a JSON {_json_kind(item)}")
    return tuple(value)


def _json_kind(value: Any) -> str:
    """Return the JSON name of a parsed value's type (object, list, string, number, ...)."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def read_values(readers: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Call every reader from :func:`field_widgets`; raise ValueError naming a bad field."""
    return {name: reader() for name, reader in readers.items()}


def estimator_config(make: Callable[..., Any], name: str, params: dict) -> Any | None:
    """Return the config dataclass of estimator ``name`` with ``params``, or None if it has none."""
    estimator = make(name, **params)
    getter = getattr(estimator, "get_config", None)
    config = getter() if getter is not None else None
    return config if dataclasses.is_dataclass(config) else None


# -- stage forms ------------------------------------------------------------------------


def _clear_keys(prefix: str) -> None:
    for key in [k for k in st.session_state if str(k).startswith(prefix)]:
        del st.session_state[key]


def section_form(section: str, title: str, skip: tuple[str, ...] = ()) -> None:
    """Draw a sidebar form editing one config section (``panels``, ``text``, ``faces``).

    *Apply* validates the values and stores them in the session's config;
    an invalid value is shown with ``st.error`` and the old config is kept.
    *Defaults* puts the section back to its defaults.
    """
    from comicfaces.dashboard import state

    current = getattr(state.current_config(), section)
    prefix = f"_w_{section}_"
    with st.sidebar.form(f"form_{section}"):
        st.markdown(f"**{title}**")
        readers = field_widgets(current, prefix.rstrip("_"), skip)
        apply_column, reset_column = st.columns(2)
        apply = apply_column.form_submit_button("Apply", type="primary")
        reset = reset_column.form_submit_button("Defaults")

    if reset:
        state.reset_config_section(section)
        _clear_keys(prefix)
        st.rerun()
    if apply:
        try:
            values = read_values(readers)
            state.set_config_section(section, {**dataclasses.asdict(current), **values})
        except (TypeError, ValueError) as error:
            st.sidebar.error(f"{title}: {error}")
        else:
            st.rerun()


def estimator_form(
    section: str, title: str, names: list[str], make: Callable[..., Any], descriptions: dict[str, str] | None = None
) -> None:
    """Draw an estimator choice and a form of its parameters (``features``, ``reduction``, ``clustering``).

    Changing the estimator applies it at once with its default parameters.
    Only parameters that differ from the estimator's defaults are stored, plus
    those the default config sets, so the cache keys of default settings
    match the command line's.
    """
    from comicfaces.config import PipelineConfig
    from comicfaces.dashboard import state

    current = getattr(state.current_config(), section)
    default = getattr(PipelineConfig(), section)

    def base_params(name: str) -> dict:
        return dict(default.params) if name == default.name else {}

    def change_name() -> None:
        name = st.session_state[f"_w_{section}_name"]
        state.set_config_section(section, {"name": name, "params": base_params(name)})

    st.sidebar.selectbox(
        title,
        names,
        index=names.index(current.name) if current.name in names else 0,
        key=f"_w_{section}_name",
        on_change=change_name,
    )
    if descriptions and current.name in descriptions:
        st.sidebar.caption(descriptions[current.name])
    config = estimator_config(make, current.name, current.params)
    if config is None:
        st.sidebar.caption(f"`{current.name}` has no parameters.")
        return

    prefix = f"_w_{section}_{current.name}_"
    with st.sidebar.form(f"form_{section}_{current.name}"):
        st.markdown(f"**{current.name} parameters**")
        readers = field_widgets(config, prefix.rstrip("_"))
        apply_column, reset_column = st.columns(2)
        apply = apply_column.form_submit_button("Apply", type="primary")
        reset = reset_column.form_submit_button("Defaults")

    if reset:
        state.set_config_section(section, {"name": current.name, "params": base_params(current.name)})
        _clear_keys(prefix)
        st.rerun()
    if apply:
        try:
            values = read_values(readers)
            defaults = dataclasses.asdict(estimator_config(make, current.name, {}))
            base = base_params(current.name)
            params = {k: v for k, v in values.items() if k in base or v != defaults.get(k)}
            state.set_config_section(section, {"name": current.name, "params": params})
        except (TypeError, ValueError) as error:
            st.sidebar.error(f"{title}: {error}")
        else:
            st.rerun()
