"""Fused elementwise kernels for the GPU: one launch where NumPy's form takes several.

Why: at batch 128 a GPU step is bound by kernel launches (a few microseconds
each), not by arithmetic, and every NumPy-style operation (``m *= b1``,
``m += g``, ...) is one launch. Each kernel below computes exactly the formula
of the NumPy code it stands in for (named beside it), in one pass over memory.
They are used only on the GPU and only while ``backend.fused_kernels()`` is on;
the CPU never imports this module. Built on first use (CuPy compiles and caches them).
"""

import functools

import cupy


@functools.cache
def adam_kernel():
    """Adam's whole update for every parameter (``Adam._adam_step``): 1 launch instead of 9."""
    return cupy.ElementwiseKernel(
        "T g, T b1, T b2, T eps, T step",
        "T p, T m, T v",
        "m = b1 * m + g; v = b2 * v + g * g; p -= step * m / (sqrt(v) + eps);",
        "scratchnn_adam",
    )


@functools.cache
def relu_kernel():
    """``mask = x > 0; y = x * mask`` (``ReLU.forward``): 1 launch instead of 2.
    NaN * 0 stays NaN, as in the NumPy form, so divergence is still seen."""
    return cupy.ElementwiseKernel("T x", "T y, bool mask", "mask = x > (T)0; y = x * (T)mask;", "scratchnn_relu")


@functools.cache
def dropout_kernel():
    """Inverted dropout (``Dropout.forward``): draw, mask and scale in 1 launch.

    A GPU cannot fill its arrays from the host's NumPy generator without a copy
    per step, so each element's uniform number comes from a counter-based hash
    (SplitMix64's finaliser) of (seed, index): a new 64-bit seed per step, drawn
    from the layer's NumPy generator, so a seeded run repeats and resumes exactly.
    24 random bits per element, as float32 has.
    """
    return cupy.ElementwiseKernel(
        "T x, uint64 seed, T keep",
        "T y, T mask",
        """
        unsigned long long z = seed + (unsigned long long)i * 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        T u = (T)((double)(z >> 40) * (1.0 / 16777216.0));
        mask = u < keep ? (T)1 / keep : (T)0;
        y = x * mask;
        """,
        "scratchnn_dropout",
    )


@functools.cache
def batchnorm_stats_kernel():
    """Batch norm's per-feature arithmetic after the two reductions (``BatchNorm.forward``):
    the variance, the running averages, 1/std and the scale and shift, in 1 launch
    instead of about 12."""
    return cupy.ElementwiseKernel(
        "T mean, T sum_sq, T gamma, T beta, T n, T momentum, T eps",
        "T running_mean, T running_var, T inv_std, T scale, T shift",
        """
        T var = sum_sq / n;
        running_mean = momentum * running_mean + ((T)1 - momentum) * mean;
        running_var = momentum * running_var + ((T)1 - momentum) * n / (n - (T)1) * var;
        inv_std = (T)1 / sqrt(var + eps);
        scale = gamma * inv_std;
        shift = beta - mean * scale;
        """,
        "scratchnn_batchnorm_stats",
    )


@functools.cache
def affine_kernel():
    """``y = x * a + c`` per feature (batch norm's normalisation): 1 launch instead of 2."""
    return cupy.ElementwiseKernel("T x, T a, T c", "T y", "y = x * a + c;", "scratchnn_affine")


@functools.cache
def affine2_kernel():
    """``dx = dy * a + x * b + c`` per feature (batch norm's backward): 1 launch instead of 4."""
    return cupy.ElementwiseKernel("T dy, T x, T a, T b, T c", "T dx", "dx = dy * a + x * b + c;", "scratchnn_affine2")


@functools.cache
def batchnorm_backward_stats_kernel():
    """Batch norm's per-feature backward arithmetic (``BatchNorm.backward``): dgamma and
    the coefficients of ``dx = a dy + b x + c``, in 1 launch instead of about 12."""
    return cupy.ElementwiseKernel(
        "T sum_dy_x, T dbeta, T mean, T inv_std, T gamma, T m",
        "T dgamma, T a, T b, T c",
        """
        dgamma = (sum_dy_x - mean * dbeta) * inv_std;
        a = gamma * inv_std;
        b = -a * dgamma * inv_std / m;
        c = -a * dbeta / m - b * mean;
        """,
        "scratchnn_batchnorm_backward_stats",
    )
