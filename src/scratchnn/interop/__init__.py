"""Bridges to other tools: ONNX files (:mod:`.onnx`).

The scikit-learn estimator lives in :mod:`scratchnn.sklearn`. Both are
surfaces: they use the library, nothing in the library uses them, and the
packages they need (``onnx``, ``scikit-learn``) are optional extras that are
imported only when one of them is used.
"""
