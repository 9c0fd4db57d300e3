"""Neural-network building blocks for the learned feature extractors.

Apart from :mod:`comicfaces.nn.device`, the modules here import torch at the top,
so import them only inside the methods that need a network; that keeps
``comicfaces.features`` importable without loading torch.

- :mod:`comicfaces.nn.backbones`: ResNet-18/34/50 written for this package, and the
  ImageNet EfficientNet-Lite0 of the ``efficientnet-lite-pytorch`` package.
- :mod:`comicfaces.nn.preprocess`: crops to square batches, ImageNet normalisation.
- :mod:`comicfaces.nn.augment`: the SimCLR view augmentation (kornia).
- :mod:`comicfaces.nn.dense`: the fully connected autoencoder network.
- :mod:`comicfaces.nn.device`: the ``device`` parameter (no torch import).
- :mod:`comicfaces.nn.training`: seeding, NT-Xent loss, learning-rate
  schedule, batched inference.
"""
