"""Streamlit dashboard of comicfaces: one page per pipeline stage.

``app.py`` and ``pages/*.py`` at the repository root only lay out the pages;
everything they call lives here:

:mod:`~comicfaces.dashboard.state`
    The session state shared across pages: workspace, input, stage parameters.
:mod:`~comicfaces.dashboard.inputs`
    The demo comic, uploads, folders of pages or crops, and their validation.
:mod:`~comicfaces.dashboard.cached`
    ``st.cache_data`` / ``st.cache_resource`` wrappers around the pipeline,
    with progress bars and a record of where each result came from.
:mod:`~comicfaces.dashboard.widgets`
    Parameter forms built from the stage config dataclasses.
:mod:`~comicfaces.dashboard.draw`, :mod:`~comicfaces.dashboard.charts`
    Box overlays, crop galleries and plotly charts.
:mod:`~comicfaces.dashboard.views`
    The sections each page shows, built from the modules above.

Streamlit is imported only by this subpackage, so the rest of comicfaces
works without it.
"""
