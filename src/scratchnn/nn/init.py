"""Weight initialisation.

He et al. (2015) showed that with ReLU units, which zero half of their inputs on
average, weights drawn with variance ``2 / fan_in`` keep the variance of the
activations constant from layer to layer, so deep stacks neither vanish nor blow up.
"""

import numpy as np


def he_normal(fan_in, fan_out, rng, dtype=np.float32):
    """Weights of shape ``(fan_in, fan_out)`` from N(0, 2 / fan_in).

    Parameters
    ----------
    fan_in, fan_out : int
        Inputs and outputs of the layer.
    rng : numpy.random.Generator
        Where the numbers come from.
    dtype : numpy dtype
        The weights' type.

    Returns
    -------
    numpy.ndarray
    """
    std = np.sqrt(2.0 / fan_in)
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)
