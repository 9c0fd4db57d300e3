"""Features: the feature extractor, the shape of the feature matrix, and a heatmap."""

from comicfaces.dashboard.views import common, features

context = common.page_setup("Features", ":material/data_array:", "Each face crop becomes one row of a feature matrix.")
features.settings()
face_set = features.faces(context)
matrix = features.run(context)
features.summary(matrix, context)
features.heatmap(matrix, face_set)
