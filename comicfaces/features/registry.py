"""Building estimators by name from a registry of classes.

The feature, reduction and clustering stages each keep a ``dict`` from a short name
(``"hog"``, ``"pca"``, ``"hdbscan"``) to an estimator class. The CLI, the dashboard and
configuration files refer to estimators by those names, and :func:`make_estimator`
turns a name plus keyword parameters into a validated instance.
"""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.base import BaseEstimator


def make_estimator(
    registry: Mapping[str, type[BaseEstimator]], kind: str, name: str, params: Mapping
) -> BaseEstimator:
    """Create the estimator registered as ``name`` and validate its parameters.

    Parameters
    ----------
    registry : mapping of str to estimator class
        Names and classes of one stage.
    kind : str
        Name of the stage for error messages, such as ``"feature extractor"``.
    name : str
        Key in ``registry``.
    params : mapping
        Keyword arguments for the class.

    Returns
    -------
    BaseEstimator
        Unfitted estimator.

    Raises
    ------
    ValueError
        If ``name`` is not registered, a parameter name is unknown to the class, or a
        value fails the class's config validation. The message lists the valid names.
    """
    if name not in registry:
        raise ValueError(
            f"unknown {kind} {name!r}; valid names are: {', '.join(sorted(registry))}"
        )

    cls = registry[name]
    valid_params = cls._get_param_names()
    unknown = sorted(set(params) - set(valid_params))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for {kind} {name!r}; "
            f"valid parameters are: {', '.join(valid_params)}"
        )

    estimator = cls(**params)

    # sklearn estimators validate in fit(), but a CLI or config file should learn about
    # a bad value before hours of detection run, so validate here as well.
    config = getattr(estimator, "get_config", None)
    if config is not None:
        config()
    return estimator
