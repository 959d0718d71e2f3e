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
    """The address to open in a browser for a server bound to ``host``:``port``."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def make_demo_server(classifier, host="127.0.0.1", port=8000):
    """A ready (bound, not yet serving) server for ``classifier``; port 0 takes any free port."""
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
    """Serve the demo until interrupted, printing the address to open first."""
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
