"""What the page shows of a model: its description, and its answer for one image.

For one 28x28 image :meth:`ModelView.predict` gives the class and the ten
probabilities, and on request what happens inside: the activations of the
hidden layers (the output of every ReLU of a dense model; the feature maps of
the first convolution of a CNN) and the saliency map, the gradient of the
winning class's logit with respect to the input pixels, computed by the
layers' own backward pass (:mod:`scratchnn.nn.inspection`).
"""

import threading

import numpy as np

from ..errors import ModelFileError
from ..nn.inspection import input_gradient, layer_outputs
from ..nn.layers import ReLU
from ..nn.losses import softmax

SIDE = 28


class ModelView:
    """A loaded classifier, answering one image at a time for the web page.

    Layers reuse their buffers from call to call, so one lock serialises the
    requests that reach the network (a forward pass of one image is tens of
    microseconds; decoding the PNG around it runs in parallel).

    Parameters
    ----------
    classifier : scratchnn.Classifier
        The trained network with its dataset, class names and metadata.

    Raises
    ------
    ModelFileError
        The network does not take 28x28 images.
    """

    def __init__(self, classifier):
        self.classifier = classifier
        self.network = classifier.network
        self.input_shape = tuple(classifier.input_shape)
        if int(np.prod(self.input_shape)) != SIDE * SIDE:
            raise ModelFileError(
                f"scratchnn serve shows 28x28 drawings; this model takes inputs of shape "
                f"{self.input_shape} ({int(np.prod(self.input_shape))} values, not 784)"
            )
        self._lock = threading.Lock()
        self.hidden = self._find_hidden_layers()

    @property
    def dataset(self):
        """The name of the dataset the model was trained on."""
        return self.classifier.dataset

    def _find_hidden_layers(self):
        """``(index, per-example shape)`` of each layer whose output the page shows."""
        shapes = [out.shape[1:] for _, out in self._outputs(np.zeros((SIDE, SIDE), np.float32))]
        chosen, maps_shown = [], False
        for index, layer in enumerate(self.network.layers):
            if not isinstance(layer, ReLU):
                continue
            if len(shapes[index]) == 1:
                chosen.append(index)
            elif len(shapes[index]) == 3 and not maps_shown:  # (channels, height, width): the first conv's maps
                chosen.append(index)
                maps_shown = True
        return [(index, shapes[index]) for index in chosen]

    def describe(self):
        """A JSON-able description of the model for ``GET /api/model``.

        Returns
        -------
        dict
            ``dataset``, ``classes``, ``input_shape``, ``layers`` (their reprs),
            ``parameters`` (the count), ``dtype``, ``test_accuracy`` (None when
            unknown) and ``hidden``: the layers whose outputs :meth:`predict`
            can show (``layer`` index, ``name``, ``kind``, ``shape``).
        """
        layers = self.network.layers
        hidden = []
        for index, shape in self.hidden:
            weighted = next((repr(layers[i]) for i in range(index - 1, -1, -1) if "W" in layers[i].param_names), "")
            kind = "feature maps" if len(shape) == 3 else "units"
            hidden.append(
                {"layer": index, "name": f"{weighted} \u2192 {layers[index]!r}", "kind": kind, "shape": list(shape)}
            )
        metadata = self.classifier.metadata
        return {
            "dataset": self.dataset,
            "classes": list(self.classifier.class_names),
            "input_shape": list(self.input_shape),
            "layers": [repr(layer) for layer in layers],
            "parameters": int(self.network.params.size),
            "dtype": str(self.network.dtype),
            "test_accuracy": metadata.get("test_accuracy"),
            "hidden": hidden,
        }

    def predict(self, pixels, activations=False, saliency=False, input=False):
        """The network's answer for one (28, 28) image in [0, 1].

        Parameters
        ----------
        pixels : array_like
            The image, shape (28, 28) (or any shape of 784 values), floats in [0, 1].
        activations : bool
            Add the hidden layers' outputs.
        saliency : bool
            Add the saliency map: the gradient of the winning class's logit
            with respect to each pixel.
        input : bool
            Add the image itself, to show what the network saw.

        Returns
        -------
        dict
            JSON-able: ``class`` (index), ``name``, ``probabilities`` (one per
            class, summing to 1) and, when asked, ``activations`` (one entry per
            layer in ``self.hidden``: ``layer``, ``shape``, ``values``),
            ``saliency`` (28x28, d logit / d pixel) and ``input`` (``pixels`` as given).
        """
        with self._lock:
            outputs = self._outputs(pixels)
            logits = outputs[-1][1][0].astype(np.float64)
            probabilities = softmax(logits[None])[0]
            winner = int(probabilities.argmax())
            answer = {
                "class": winner,
                "name": self.classifier.class_names[winner],
                "probabilities": probabilities.tolist(),
            }
            if activations:
                answer["activations"] = [
                    {"layer": index, "shape": list(shape), "values": outputs[index][1][0].tolist()}
                    for index, shape in self.hidden
                ]
            if saliency:
                gradient = input_gradient(self.network, self._batch(pixels), winner)
                answer["saliency"] = gradient.reshape(SIDE, SIDE).tolist()
        if input:
            answer["input"] = np.asarray(pixels, np.float32).tolist()
        return answer

    def _batch(self, pixels):
        return np.asarray(pixels, self.network.dtype).reshape((1,) + self.input_shape)

    def _outputs(self, pixels):
        return layer_outputs(self.network, self._batch(pixels))
