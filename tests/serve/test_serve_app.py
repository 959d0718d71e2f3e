"""The JSON API and the static files, through Flask's test client (no socket needed)."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from web_demo import drawn_stroke, png_bytes

from scratchnn.data.images import preprocess_image
from scratchnn.nn.inspection import input_gradient
from scratchnn.serve import create_app
from scratchnn.serve.model_view import ModelView


@pytest.fixture(scope="module")
def client(untrained_classifier):
    return create_app(ModelView(untrained_classifier), max_request_bytes=200_000).test_client()


@pytest.fixture(scope="module")
def trained_client(mnist_classifier):
    return create_app(ModelView(mnist_classifier)).test_client()


def data_url(png):
    return "data:image/png;base64," + base64.b64encode(png).decode()


def post_json(client, payload):
    return client.post("/api/predict", data=json.dumps(payload), content_type="application/json")


def assert_error(response, status, *words):
    """A 4xx JSON answer whose message contains every one of ``words``."""
    assert response.status_code == status, response.get_data(as_text=True)
    message = response.get_json()["error"]
    for word in words:
        assert word in message, message


# ---- good requests -----------------------------------------------------------


def test_a_vertical_stroke_reads_as_one_in_each_of_the_three_forms(
    trained_client, mnist_classifier, vertical_stroke_png
):
    as_bytes = trained_client.post("/api/predict", data=vertical_stroke_png, content_type="image/png").get_json()
    as_url = post_json(trained_client, {"image": data_url(vertical_stroke_png)}).get_json()
    pixels = preprocess_image(Image.open(io.BytesIO(vertical_stroke_png)), dataset="mnist")
    as_array = post_json(trained_client, {"pixels": pixels.tolist()}).get_json()
    for answer in (as_bytes, as_url, as_array):
        assert answer["class"] == 1 and answer["name"] == "1"
        assert len(answer["probabilities"]) == 10
        assert sum(answer["probabilities"]) == pytest.approx(1, abs=1e-9)
        assert answer["probabilities"][1] == max(answer["probabilities"])
    np.testing.assert_allclose(as_array["probabilities"], as_url["probabilities"], atol=1e-6)
    expected = mnist_classifier.predict_proba(pixels[None])[0]
    np.testing.assert_allclose(as_array["probabilities"], expected, atol=1e-5)


def test_details_only_on_request(client, vertical_stroke_png):
    plain = post_json(client, {"image": data_url(vertical_stroke_png)}).get_json()
    assert set(plain) == {"class", "name", "probabilities"}
    full = post_json(
        client, {"image": data_url(vertical_stroke_png), "activations": True, "saliency": True, "input": True}
    ).get_json()
    assert set(full) == {"class", "name", "probabilities", "activations", "saliency", "input"}
    by_query = client.post("/api/predict?saliency=1", data=vertical_stroke_png, content_type="image/png").get_json()
    assert set(by_query) == {"class", "name", "probabilities", "saliency"}


def test_activations_saliency_and_input_are_the_networks_own(untrained_classifier, client, vertical_stroke_png):
    answer = post_json(
        client, {"image": data_url(vertical_stroke_png), "activations": True, "saliency": True, "input": True}
    ).get_json()
    pixels = np.array(answer["input"], np.float32)
    assert pixels.shape == (28, 28) and pixels.max() == pytest.approx(1)
    network = untrained_classifier.network
    dense1, dense2 = network.layers[0], network.layers[2]
    hidden1 = np.maximum(pixels.reshape(1, 784) @ dense1.W + dense1.b, 0)
    hidden2 = np.maximum(hidden1 @ dense2.W + dense2.b, 0)
    assert [(a["layer"], a["shape"]) for a in answer["activations"]] == [(1, [32]), (3, [16])]
    np.testing.assert_allclose(answer["activations"][0]["values"], hidden1[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(answer["activations"][1]["values"], hidden2[0], rtol=1e-5, atol=1e-6)
    saliency = np.array(answer["saliency"])
    assert saliency.shape == (28, 28)
    expected = input_gradient(network, pixels.reshape(1, 784), answer["class"]).reshape(28, 28)
    np.testing.assert_allclose(saliency, expected, rtol=1e-5, atol=1e-7)


def test_model_description(client):
    description = client.get("/api/model").get_json()
    assert description["classes"] == [str(i) for i in range(10)]
    assert description["layers"] == ["Dense(784, 32)", "ReLU()", "Dense(32, 16)", "ReLU()", "Dense(16, 10)"]
    assert description["parameters"] == 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    assert description["input_shape"] == [784] and description["dataset"] == "mnist"
    assert [(h["layer"], h["shape"], h["kind"]) for h in description["hidden"]] == [
        (1, [32], "units"),
        (3, [16], "units"),
    ]
    assert description["max_request_bytes"] == 200_000


# ---- bad requests: always a 4xx with a message, never a 500 -------------------


@pytest.mark.parametrize(
    "body, content_type, status, words",
    [
        (b"", "image/png", 400, ["empty request"]),
        (b"not a picture at all", "image/png", 400, ["not an image"]),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "image/png", 400, ["image"]),
        (b"hello", "text/plain", 415, ["unsupported content type 'text/plain'"]),
        (b'{"image": ', "application/json", 400, ["not valid JSON"]),
        (b"\xff\xfe", "application/json", 400, ["not valid JSON"]),
        (b"[1, 2]", "application/json", 400, ["must be an object"]),
        (b"{}", "application/json", 400, ["exactly one of"]),
        (b'{"image": "x", "pixels": []}', "application/json", 400, ["exactly one of"]),
        (b'{"picture": "x"}', "application/json", 400, ["unknown field", "picture"]),
        (b'{"image": 5}', "application/json", 400, ["must be a string"]),
        (b'{"image": "http://example.com/7.png"}', "application/json", 400, ["data URL"]),
        (b'{"image": "data:image/png;base64,@@@"}', "application/json", 400, ["not valid base64"]),
        (b'{"image": "data:image/png;base64,aGVsbG8="}', "application/json", 400, ["not an image"]),
        (b'{"pixels": "zeros"}', "application/json", 400, ["28x28 array of numbers"]),
        (b'{"pixels": [["0.5"]]}', "application/json", 400, ["28x28 array of numbers"]),
        (b'{"pixels": [[0.5]], "saliency": "yes"}', "application/json", 400, ['"saliency" must be true or false']),
    ],
)
def test_malformed_requests_are_refused_with_a_clear_message(client, body, content_type, status, words):
    assert_error(client.post("/api/predict", data=body, content_type=content_type), status, *words)


def test_bad_query_option(client, vertical_stroke_png):
    response = client.post("/api/predict?activations=maybe", data=vertical_stroke_png, content_type="image/png")
    assert_error(response, 400, "activations", "expected 1 or 0")


def test_truncated_png(client, vertical_stroke_png):
    response = client.post("/api/predict", data=vertical_stroke_png[:200], content_type="image/png")
    assert_error(response, 400, "not a usable image")


@pytest.mark.parametrize(
    "pixels, words",
    [
        (np.zeros((28, 27)).tolist(), ["28 rows of 28 numbers", "28 rows of 27 numbers"]),
        (np.zeros((14, 28)).tolist(), ["28 rows of 28", "got 14 rows"]),
        ([[0.5] * 28] * 27 + [[0.5] * 5], ["28 rows of 28", "5/28"]),
        ([0.5] * 784, ["one flat list of 784"]),
        ([], ["got 0 rows"]),
        (np.full((28, 28), 255).tolist(), ["in [0, 1]"]),
        (np.full((28, 28), -0.5).tolist(), ["in [0, 1]"]),
    ],
)
def test_wrong_shape_or_range_of_pixels(client, pixels, words):
    assert_error(post_json(client, {"pixels": pixels}), 422, *words)


def test_not_a_number_pixel(client):
    body = json.dumps({"pixels": [[0.5] * 28] * 28}).replace("0.5", "NaN", 1)
    assert_error(client.post("/api/predict", data=body, content_type="application/json"), 422, "in [0, 1]")


def test_blank_inputs_get_no_made_up_prediction(client):
    blank = png_bytes(Image.new("RGB", (280, 280), "white"))
    assert_error(client.post("/api/predict", data=blank, content_type="image/png"), 422, "blank")
    transparent = png_bytes(Image.new("RGBA", (280, 280), (0, 0, 0, 0)))
    assert_error(post_json(client, {"image": data_url(transparent)}), 422, "blank")
    assert_error(post_json(client, {"pixels": np.zeros((28, 28)).tolist()}), 422, "blank")


def test_oversized_request_is_refused_before_it_is_read(client):
    too_big = drawn_stroke([(140, 40), (140, 240)]) + bytes(200_001)
    assert_error(client.post("/api/predict", data=too_big, content_type="image/png"), 413, "at most 200,000 bytes")
    huge_json = json.dumps({"pixels": [[0.5] * 28] * 28, "image": "x" * 200_000})
    assert_error(client.post("/api/predict", data=huge_json, content_type="application/json"), 413, "too large")


def test_decompression_bomb_is_refused(client):
    # A 5000x5000 PNG of one colour compresses to a few kilobytes but would decode to 25 MP.
    bomb = png_bytes(Image.new("1", (5000, 5000), 1))
    assert len(bomb) < 200_000
    assert_error(client.post("/api/predict", data=bomb, content_type="image/png"), 413, "5000x5000")


def test_wrong_method_and_unknown_api_path_answer_json(client):
    assert_error(client.get("/api/predict"), 405, "Method Not Allowed")
    assert_error(client.get("/api/nothing"), 404, "Not Found")


# ---- the page and its files ----------------------------------------------------


def test_page_and_assets_are_served_by_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and b'<canvas id="pad"' in page.data
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    for asset in ("/static/app.js", "/static/style.css"):
        response = client.get(asset)
        assert response.status_code == 200 and len(response.data) > 500
        assert "http://" not in response.get_data(as_text=True) and "https://" not in response.get_data(as_text=True)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e/app.py",
        "/static/..%2f..%2f__init__.py",
        "/static/../../../../../../etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/..\\app.py",
    ],
)
def test_static_files_cannot_be_read_outside_the_package_folder(client, path):
    response = client.get(path)
    assert response.status_code in (404, 308, 400)
    assert b"create_app" not in response.data and b"root:" not in response.data


def test_the_network_is_not_touched_by_concurrent_requests(untrained_classifier):
    """One lock around the layers: answers from many threads equal the single-threaded ones."""
    import threading

    view = ModelView(untrained_classifier)
    rng = np.random.default_rng(0)
    images = [rng.random((28, 28)).astype(np.float32) for _ in range(8)]
    expected = [view.predict(image, activations=True, saliency=True) for image in images]
    results = [None] * 64

    def worker(i):
        results[i] = view.predict(images[i % 8], activations=True, saliency=True)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, result in enumerate(results):
        assert result == expected[i % 8]


def test_png_compression_bomb_in_a_data_url_is_refused(client):
    bomb = png_bytes(Image.new("L", (4097, 4097), 255))
    assert len(bomb) < 150_000
    assert_error(post_json(client, {"image": data_url(bomb)}), 413, "4097x4097")


def test_a_cnn_shows_the_feature_maps_of_its_first_convolution():
    from numpy.lib.stride_tricks import sliding_window_view

    from scratchnn.classifier import Classifier
    from scratchnn.nn import build_model, parse_architecture

    arch = "conv4k5 relu maxpool2 conv6k3 relu maxpool2 flatten dense16 relu dense10"
    network = build_model(parse_architecture(arch), (1, 28, 28), seed=0)
    view = ModelView(Classifier(network, "mnist"))
    client = create_app(view).test_client()
    description = client.get("/api/model").get_json()
    assert description["input_shape"] == [1, 28, 28]
    assert [(h["layer"], h["shape"], h["kind"]) for h in description["hidden"]] == [
        (1, [4, 24, 24], "feature maps"),
        (8, [16], "units"),
    ]  # only the first convolution's maps
    assert description["hidden"][0]["name"] == "Conv2D(1, 4, kernel=5, stride=1, padding=0) \u2192 ReLU()"
    pixels = np.zeros((28, 28), np.float32)
    pixels[4:24, 12:16] = 1.0
    answer = post_json(client, {"pixels": pixels.tolist(), "activations": True, "saliency": True}).get_json()
    maps = np.array(answer["activations"][0]["values"])
    assert maps.shape == (4, 24, 24)
    conv = network.layers[0]
    windows = sliding_window_view(pixels, (5, 5))  # (24, 24, 5, 5): an independent valid convolution
    kernels = conv.W[:, :, 0, :]  # (5, 5, filters)
    expected = np.maximum(np.einsum("ijkl,klc->cij", windows, kernels) + conv.b[:, None, None], 0)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-5)
    saliency = np.array(answer["saliency"])
    expected_saliency = input_gradient(network, pixels.reshape(1, 1, 28, 28), answer["class"]).reshape(28, 28)
    np.testing.assert_allclose(saliency, expected_saliency, rtol=1e-5, atol=1e-7)
