"""comicfaces: find the faces of comic characters and group them by character.

The pipeline runs pages -> panels -> text and balloons -> faces -> crops ->
features -> optional reduction -> clustering -> evaluation. Each stage lives in
its own module and caches its output in a :class:`comicfaces.cache.Workspace`.
"""

__version__ = "0.1.0"
