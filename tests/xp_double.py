"""A stand-in for NumPy that records which functions were called through it.

Code that computes through its array module ``xp`` (see ``scratchnn.nn.backend``)
runs unchanged with ``xp = RecordingNumpy()``: every call is NumPy's own, so the
results are bit-identical, and ``calls`` shows that the code took its functions
from ``xp`` and not from a hard-wired ``numpy``. CI has no GPU; this is how the
CPU tests prove the plumbing that lets CuPy stand in on one.
"""

import types
from collections import Counter

import numpy as np


class _RecordedFunction:
    """A NumPy function or ufunc that notes each call and otherwise is the original."""

    def __init__(self, function, name, calls):
        self._function, self._name, self._calls = function, name, calls

    def __call__(self, *args, **kwargs):
        self._calls[self._name] += 1
        return self._function(*args, **kwargs)

    def __getattr__(self, attribute):  # ufunc methods such as np.add.at
        return getattr(self._function, attribute)


class RecordingNumpy(types.ModuleType):
    """NumPy seen through a recorder: ``xp.zeros(...)`` is ``np.zeros(...)``, counted in ``calls``."""

    def __init__(self, module=np, prefix="", calls=None):
        super().__init__("recording_numpy")
        self._module, self._prefix = module, prefix
        self.calls = Counter() if calls is None else calls

    def __getattr__(self, name):
        value = getattr(self._module, name)
        qualified = self._prefix + name
        if isinstance(value, types.ModuleType):
            return RecordingNumpy(value, qualified + ".", self.calls)
        if isinstance(value, type) or not callable(value):
            return value  # dtypes (xp.float32), constants (xp.pi), classes
        return _RecordedFunction(value, qualified, self.calls)
