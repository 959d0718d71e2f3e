"""scratchnn: neural networks from scratch in NumPy.

The pieces, in the order imports flow: ``scratchnn.nn`` (layers, losses,
optimisers, the model), ``scratchnn.data`` (IDX files, datasets, download,
augmentation), ``scratchnn.training`` (the loop, checkpoints, presets), and the
surfaces ``scratchnn.cli`` and ``scratchnn.plots``.
"""

__version__ = "0.1.0"
