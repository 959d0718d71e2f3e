"""The array-module plumbing: the device names, the module of an array, host copies."""

import subprocess
import sys

import numpy as np
import pytest
from xp_double import RecordingNumpy

from scratchnn.errors import DeviceError
from scratchnn.nn import backend


def test_cpu_is_numpy_and_unknown_devices_are_named():
    assert backend.array_module("cpu") is np
    with pytest.raises(DeviceError, match="device must be one of cpu, gpu, got 'tpu'"):
        backend.array_module("tpu")


def test_gpu_without_cupy_fails_with_one_line_saying_what_is_missing():
    # A fresh interpreter where importing cupy fails, whether or not it is installed here.
    code = (
        "import sys; sys.modules['cupy'] = None\n"
        "from scratchnn.nn.backend import array_module\n"
        "from scratchnn.errors import DeviceError\n"
        "try:\n    array_module('gpu')\nexcept DeviceError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.count("\n") == 1
    assert "--device gpu needs CuPy, which is not installed" in out
    assert "pip install 'scratchnn[gpu]'" in out


def test_module_of_and_host_copies_of_numpy_arrays():
    a = np.arange(6, dtype=np.float32)
    assert backend.module_of(a) is np
    assert backend.module_of(3.0) is np
    assert backend.to_numpy(a) is a
    assert backend.to_module([1, 2], np).tolist() == [1, 2]
    assert backend.device_of(np) == "cpu"
    assert not backend.is_gpu(RecordingNumpy())
    assert backend.device_of(RecordingNumpy()) == "cpu"


def test_fused_kernels_switch_reads_and_sets():
    before = backend.fused_kernels()
    try:
        assert backend.fused_kernels(False) is False
        assert backend.fused_kernels() is False
        assert backend.fused_kernels(True) is True
    finally:
        backend.fused_kernels(before)


def test_recording_double_is_numpy_and_counts_calls():
    xp = RecordingNumpy()
    x = xp.zeros(3, xp.float32)
    xp.add.at(x, [0, 0], 1.0)  # ufunc methods pass through
    view = xp.lib.stride_tricks.as_strided(x, (2,), (4,))
    assert x.tolist() == [2.0, 0.0, 0.0] and view.shape == (2,)
    assert xp.calls["zeros"] == 1 and xp.calls["lib.stride_tricks.as_strided"] == 1
