"""Looking inside a trained model: what each layer outputs, and what the input pixels matter.

Both run the model in evaluation mode and use its own layers, nothing re-derived:

* :func:`layer_outputs` keeps a copy of every layer's output for one batch.
* :func:`input_gradient` is the gradient of one class's logit with respect to
  the input, ``d z_c / d x``, from the layers' own ``backward``: a saliency map
  (Simonyan et al., 2014). Its sign says whether more ink at a pixel raises or
  lowers that class's score, its size how strongly.

Neither is on the training path, so both favour clarity over speed.
"""

import numpy as np


def layer_outputs(model, x):
    """Every layer's output for the batch ``x``, in evaluation mode.

    Returns a list with one ``(layer, output)`` pair per layer, in order; each
    output is a copy (layers reuse their buffers, and activations overwrite
    their input in place). The last one holds the logits.
    """
    outputs = []
    for layer in model.layers:
        x = layer.forward(x, training=False)
        outputs.append((layer, x.copy()))
    return outputs


def input_gradient(model, x, class_index):
    """``d z_c / d x``: the gradient of logit ``class_index`` with respect to ``x``.

    ``x`` is a batch shaped as the model takes it; the result has its shape.
    Backpropagating ``dL/dz = one_hot(c)`` through the layers gives exactly
    ``dz_c/dx`` per row. The first layer normally skips its input gradient
    (training never needs it), so it is asked for it for this one pass.
    The model's parameter gradients (``model.grads``) are left as they were.
    """
    first = model.layers[0]
    saved_grads = model.grads.copy()
    saved_flag = first.needs_input_grad
    try:
        first.needs_input_grad = True
        logits = model.forward(np.array(x, dtype=model.dtype), training=False)
        dlogits = np.zeros_like(logits)
        dlogits[:, class_index] = 1.0
        grad = dlogits
        for layer in reversed(model.layers):
            grad = layer.backward(grad)
        return np.array(grad).reshape(np.shape(x))
    finally:
        first.needs_input_grad = saved_flag
        model.grads[...] = saved_grads
