"""Reduction: optional PCA of the features, its explained variance, and a 2-D map of the faces."""

from comicfaces.dashboard.views import common, features, reduction

context = common.page_setup(
    "Reduction", ":material/compress:", "Features can be reduced with PCA before clustering; the map shows the faces in 2-D."
)
reduction.settings()
features.faces(context)
embedding = reduction.run(context)
reduction.variance(context, embedding)
reduction.scatter(context)
