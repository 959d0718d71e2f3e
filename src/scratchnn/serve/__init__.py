"""The web demo behind ``scratchnn serve``: draw a digit, watch the network think.

* :mod:`.inputs` turns a request body (a PNG, a data URL or a 28x28 array) into
  the 28x28 image the network sees, with the user-image preprocessing of
  :mod:`scratchnn.data.images`, and refuses bad input with a 4xx :class:`RequestError`.
* :mod:`.model_view` answers for one image: the probabilities, and on request
  the hidden layers' activations and a saliency map.
* :mod:`.app` is the Flask application (the page, its assets, the JSON API);
  :mod:`.server` runs it on a local address.
"""

from .app import MAX_REQUEST_BYTES, create_app
from .inputs import RequestError
from .model_view import ModelView
from .server import make_demo_server, serve, url_of

__all__ = ["MAX_REQUEST_BYTES", "ModelView", "RequestError", "create_app", "make_demo_server", "serve", "url_of"]
