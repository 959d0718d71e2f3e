"""Where the arrays live: NumPy on the CPU, or CuPy on an NVIDIA GPU.

The layers, the loss, the optimisers, augmentation and evaluation are written
once. Each computes with its array module ``xp`` (``xp.matmul``, ``xp.empty``,
...): ``numpy`` on the CPU, ``cupy`` on the GPU, whose API is NumPy's. So the
maths reads as NumPy whatever the device, and there is no second implementation
of anything. ``Sequential.to(device)`` moves a model and sets ``xp`` on each of
its layers; the trainer does the same for the loss and the optimiser.

CuPy is imported only when the GPU is asked for: the CPU path never touches it.

On a GPU every array operation is a kernel launch of a few microseconds, and at
batch 128 a step is bound by how many it launches, not by arithmetic. Where that
matters the GPU path uses a fused kernel (:mod:`scratchnn.nn.gpu_kernels`) for
what NumPy does in several passes; ``fused_kernels(False)`` switches them off to
measure the difference.
"""

import os
import sys
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import DeviceError

DEVICES = ("cpu", "gpu")

# Fused GPU kernels on (the default) or off (set SCRATCHNN_FUSED_KERNELS=0, or
# call fused_kernels(False)): off, the GPU runs exactly the NumPy-form code.
_fused = os.environ.get("SCRATCHNN_FUSED_KERNELS", "1") != "0"


def fused_kernels(enabled: bool | None = None) -> bool:
    """Whether the GPU uses its fused kernels; switch them with ``enabled``.

    Parameters
    ----------
    enabled : bool, optional
        New setting; None only reads it.

    Returns
    -------
    bool
        The setting in force after the call.
    """
    global _fused
    if enabled is not None:
        _fused = bool(enabled)
    return _fused


def check_device(device: str) -> str:
    """``device`` if it is one of :data:`DEVICES`, else a DeviceError naming it.

    Parameters
    ----------
    device : str

    Returns
    -------
    str
    """
    if device not in DEVICES:
        raise DeviceError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    return device


def array_module(device: str) -> ModuleType:
    """The array module that computes on ``device``: numpy for ``cpu``, cupy for ``gpu``.

    Parameters
    ----------
    device : {"cpu", "gpu"}

    Returns
    -------
    module

    Raises
    ------
    DeviceError
        For ``gpu`` when CuPy is not installed or finds no usable CUDA GPU; the
        message says what is missing.
    """
    if check_device(device) == "cpu":
        return np
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError(
            f"--device gpu needs CuPy, which is not installed ({exc}); "
            f"install it with: pip install 'scratchnn[gpu]' (CUDA 12) or 'scratchnn[gpu-cuda13]'"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy raises its own CUDA error types for a missing driver or device
        raise DeviceError(f"--device gpu: CuPy is installed but finds no usable CUDA GPU ({exc})") from None
    if count < 1:
        raise DeviceError("--device gpu: CuPy is installed but finds no CUDA GPU")
    return cupy


def module_of(array: Any) -> ModuleType:
    """The array module of ``array``: cupy for a CuPy array, numpy for anything else.

    Parameters
    ----------
    array : array_like

    Returns
    -------
    module
    """
    if type(array).__module__.startswith("cupy"):
        return sys.modules["cupy"]
    return np


def is_gpu(xp: ModuleType) -> bool:
    """True if ``xp`` is CuPy (the arrays are on a GPU)."""
    return xp is not np and getattr(xp, "__name__", "") == "cupy"


def device_of(xp: ModuleType) -> str:
    """``"gpu"`` for CuPy, ``"cpu"`` for NumPy (or a stand-in for it)."""
    return "gpu" if is_gpu(xp) else "cpu"


def to_numpy(array: Any) -> np.ndarray:
    """``array`` as a NumPy array on the host (copied from the GPU if it lives there).

    Parameters
    ----------
    array : array_like

    Returns
    -------
    numpy.ndarray
    """
    if type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)


def to_module(array: Any, xp: ModuleType) -> Any:
    """``array`` as an array of module ``xp`` (a copy to or from the GPU where needed).

    Parameters
    ----------
    array : array_like
    xp : module
        numpy, cupy or a stand-in for numpy.

    Returns
    -------
    array
    """
    if is_gpu(xp):
        return xp.asarray(array)
    return np.asarray(to_numpy(array))


class ComputesOnDevice:
    """Mixin for objects with an ``xp`` attribute (layers, models, losses, optimisers):
    they pickle with the device's name in place of the module, which cannot be pickled."""

    def __getstate__(self):
        state = dict(self.__dict__)
        if "xp" in state:
            state["xp"] = device_of(state["xp"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("xp"), str):
            state["xp"] = array_module(state["xp"])
        self.__dict__.update(state)
