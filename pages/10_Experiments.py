"""Experiments: sweeps of features x reduction x clustering on one face set, and stored runs side by side."""

from comicfaces.dashboard.views import common, experiments

context = common.page_setup(
    "Experiments",
    ":material/science:",
    "Score every combination of feature extractors, reducers and clusterers on one face set, "
    "compare the results and export them as CSV or LaTeX.",
    require_input=False,
)
source = experiments.face_set_choice(context)
spec = experiments.sweep_definition(source)
if spec is not None:
    experiments.run(spec)
experiments.results()
experiments.compare_runs()
