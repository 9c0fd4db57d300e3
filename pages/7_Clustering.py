"""Clustering: faces grouped by character, one gallery per cluster, and the cluster sizes."""

from comicfaces.dashboard.views import clustering, common, features

context = common.page_setup(
    "Clustering", ":material/workspaces:", "Faces are grouped by character; faces that fit no group are noise (shown last)."
)
clustering.settings()
features.faces(context)
table = clustering.run(context)
clustering.summary(table)
clustering.k_choice(context)
clustering.download(table)
clustering.galleries(table)
