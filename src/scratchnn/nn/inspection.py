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

    ``x`` is a batch the model takes (``(N, *input_shape)`` or rows of the same size).
    Returns a list with one ``(layer, output)`` pair per layer, in order; each
    output is a copy (layers reuse their buffers, and activations overwrite
    their input in place). The last one holds the logits.
    """
    x = model.as_batch(np.array(x, dtype=model.dtype))  # a copy: layers may work in place
    outputs = []
    for layer in model.layers:
        x = layer.forward(x, training=False)
        outputs.append((layer, x.copy()))
    return outputs


def input_gradient(model, x, class_index):
    """``d z_c / d x``: the gradient of logit ``class_index`` with respect to ``x``.

    ``x`` is a batch the model takes (``(N, *input_shape)`` or any shape with
    as many numbers per example); the result has its shape. Backpropagating
    ``dL/dz = one_hot(c)`` through the layers gives exactly ``dz_c/dx`` per row.
    Training stops its backward pass at the first layer with parameters (nobody
    needs dL/dx there), so every layer is asked for its input gradient for this
    one pass. The model's parameter gradients (``model.grads``) are left as they were.
    """
    saved_grads = model.grads.copy()
    saved_flags = [layer.needs_input_grad for layer in model.layers]
    try:
        for layer in model.layers:
            layer.needs_input_grad = True
        batch = model.as_batch(np.asarray(x, dtype=model.dtype))
        logits = model.forward(batch, training=False)
        grad = np.zeros_like(logits)
        grad[:, class_index] = 1.0
        for layer in reversed(model.execution_order):  # the order forward ran them in
            grad = layer.backward(grad)
        return np.array(grad).reshape(np.shape(x))
    finally:
        for layer, flag in zip(model.layers, saved_flags):
            layer.needs_input_grad = flag
        model.grads[...] = saved_grads
