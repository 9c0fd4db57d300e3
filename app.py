"""comicfaces dashboard: home page. Run with ``streamlit run app.py``.

The stage pages are in ``pages/``; all logic is in ``comicfaces.dashboard``.
"""

from comicfaces.dashboard.views import common, home

context = common.page_setup(
    "comicfaces",
    ":material/theater_comedy:",
    "Find every face of every character in comic pages, and group the faces by character.",
    require_input=False,
)
home.introduction()
home.current_setup(context)
home.page_guide()
home.command_line()
