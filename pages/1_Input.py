"""Input: the demo comic, a folder of pages or a .cbz, uploads, or a folder of face crops."""

from comicfaces.dashboard.views import common
from comicfaces.dashboard.views import input as input_view

common.page_setup(
    "Input",
    ":material/folder_open:",
    "Choose what the other pages work on. The choice is kept while you move between pages.",
    require_input=False,
)

kind = input_view.kind_choice()
if kind == "demo":
    input_view.demo_form()
elif kind == "folder":
    input_view.folder_form()
elif kind == "uploads":
    input_view.upload_form()
else:
    input_view.faces_form()

input_view.current_summary()
