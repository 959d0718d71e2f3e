"""The Flask application: the page, its assets and the JSON API.

Routes
------
``GET /``                 the drawing page (``static/index.html``)
``GET /static/<file>``    its script and style sheet, only from the package's
                          ``static`` folder (Flask's ``safe_join`` refuses ``..``)
``GET /api/model``        the loaded model: classes, layers, parameters, ...
``POST /api/predict``     an image in, the class and probabilities out (see
                          :mod:`.inputs` for the three ways to send one)

Every error of the API answers JSON ``{"error": "..."}`` with a 4xx status.
The page loads nothing from elsewhere, and its Content-Security-Policy tells
the browser to refuse anything that is not from this server.
"""

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from .inputs import RequestError, read_predict_request

# A 280x280 canvas is ~10 KB of PNG; a phone photo sent to the API a few MB.
MAX_REQUEST_BYTES = 5 * 1024 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(view, max_request_bytes=MAX_REQUEST_BYTES):
    """The web application for one model: the page, its assets and the JSON API.

    Parameters
    ----------
    view : ModelView
        The model to answer with; its description is read once, here.
    max_request_bytes : int
        Larger requests are refused with 413 before their body is read.

    Returns
    -------
    flask.Flask
        A WSGI application (:func:`make_demo_server` serves it).
    """
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = max_request_bytes
    app.json.sort_keys = False
    description = view.describe()
    description["max_request_bytes"] = max_request_bytes

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.get("/api/model")
    def model():
        return jsonify(description)

    @app.post("/api/predict")
    def predict():
        body = request.get_data(cache=False)  # 413 here when over the limit
        pixels, options = read_predict_request(request.mimetype, body, request.args, view.dataset)
        return jsonify(view.predict(pixels, **options))

    @app.errorhandler(RequestError)
    def bad_request(error):
        return jsonify(error=str(error)), error.status

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code == 413:
            message = f"request too large: at most {max_request_bytes:,} bytes are accepted"
        else:
            message = f"{error.name}: {error.description}"
        if request.path.startswith("/api/") or error.code == 413:
            return jsonify(error=message), error.code
        return error

    @app.after_request
    def headers(response):
        response.headers.update(SECURITY_HEADERS)
        return response

    return app
