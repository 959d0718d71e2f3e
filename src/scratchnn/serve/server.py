"""Run the demo on a local address: ``scratchnn serve MODEL``.

Werkzeug's threaded WSGI server (the one Flask ships) is plenty for a page on
one's own machine; it binds to 127.0.0.1 unless told otherwise, so nobody else
on the network can reach it.
"""

import logging
import socket
import sys

from werkzeug.serving import make_server, select_address_family

from ..errors import ScratchnnError
from .app import create_app
from .model_view import ModelView


def url_of(host, port):
    """The address to open in a browser for a server bound to ``host``:``port``.

    Parameters
    ----------
    host : str
        The address the server is bound to; the wildcards ``0.0.0.0`` and ``::``
        are shown as this machine's loopback address.
    port : int

    Returns
    -------
    str
        E.g. ``"http://127.0.0.1:8000/"``, with brackets around an IPv6 address.
    """
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def make_demo_server(classifier, host="127.0.0.1", port=8000):
    """A ready (bound, not yet serving) server for ``classifier``.

    Parameters
    ----------
    classifier : scratchnn.Classifier
        The model to serve; it must take 28x28 images.
    host : str
        The address to listen on; the default, the loopback address, keeps
        other machines out.
    port : int
        The port; 0 takes any free port (read it back from ``server.port``).

    Returns
    -------
    werkzeug.serving.BaseWSGIServer
        Call its ``serve_forever()`` to answer requests, ``server_close()`` to stop.

    Raises
    ------
    ScratchnnError
        The address cannot be listened on (a busy port, an unknown host name).
    ModelFileError
        The model does not take 28x28 images.
    """
    app = create_app(ModelView(classifier))
    # Bound here rather than by Werkzeug, which answers a busy port with sys.exit.
    try:
        listener = socket.create_server((host, port), family=select_address_family(host, port))
    except OSError as exc:
        raise ScratchnnError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    except (ValueError, UnicodeError) as exc:  # e.g. a malformed host name
        raise ScratchnnError(f"cannot listen on {host!r}:{port} ({exc})") from None
    with listener:  # the server works on its own duplicate of the socket
        return make_server(host, port, app, threaded=True, fd=listener.fileno())


def serve(classifier, host="127.0.0.1", port=8000, name="model", out=sys.stdout):
    """Serve the demo until interrupted (Ctrl+C), printing the address to open first.

    Parameters
    ----------
    classifier : scratchnn.Classifier
        The model to serve; it must take 28x28 images.
    host : str
        The address to listen on; any other than a loopback address adds a
        warning that other machines can reach the page.
    port : int
        The port; 0 takes any free port.
    name : str
        What the first line calls the model (e.g. its file's path).
    out : file
        Where the address and the warning are printed.

    Raises
    ------
    ScratchnnError
        The address cannot be listened on (a busy port, an unknown host name).
    ModelFileError
        The model does not take 28x28 images.
    """
    server = make_demo_server(classifier, host, port)
    # One line per request would drown the address; errors are still logged.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(f"serving {name} at {url_of(host, server.port)}  (Ctrl+C to stop)", file=out, flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}, so other machines can reach it", file=out, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
