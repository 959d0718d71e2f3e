"""The page in a real browser: headless Chromium, real strokes, the network's answer on screen.

Set SCRATCHNN_SCREENSHOTS=DIR to keep the screenshots (drawn digit, look
inside, cleared page) for looking at them.
"""

import statistics
from urllib.parse import urlsplit

import numpy as np
import pytest

PAD = 280  # the pad's size in CSS pixels (and canvas pixels)
IDLE = (
    "() => { const p = document.querySelector('#prediction');"
    " return p.dataset.busy === 'false' && p.dataset.updates !== '0'; }"
)


@pytest.fixture(scope="module")
def page(browser, served_mnist):
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    page.requested = []
    page.on("request", lambda request: page.requested.append(request.url))
    page.goto(served_mnist)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()


def on_screen(page, points):
    """Pad coordinates (0-280) -> page coordinates, wherever and however large the pad is shown."""
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / PAD
    return [(box["x"] + x * scale, box["y"] + y * scale) for x, y in points]


def mouse_stroke(page, points):
    """Press, move through ``points`` (pad coordinates) and release, as a person with a mouse does."""
    points = on_screen(page, points)
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=3)
    page.mouse.up()
    page.wait_for_function(IDLE)


def shown_answer(page):
    """(class shown, probabilities behind the bars, percentages printed beside them)."""
    prediction = page.locator("#prediction")
    assert prediction.get_attribute("data-state") == "answered", prediction.inner_text()
    probabilities = page.eval_on_selector_all("#bars li", "items => items.map(li => Number(li.dataset.probability))")
    printed = page.eval_on_selector_all("#bars .value", "values => values.map(v => v.textContent)")
    return int(prediction.get_attribute("data-class")), probabilities, printed


def clear(page):
    page.click("#clear")
    page.wait_for_function(IDLE)


def ellipse(cx, cy, rx, ry, n=40):
    angles = np.linspace(0, 2 * np.pi, n + 1)  # the last point closes the loop
    return [(cx + rx * np.sin(a), cy - ry * np.cos(a)) for a in angles]


def canvas_pixels(page, selector):
    """The canvas's RGBA pixels as a (height, width, 4) uint8 array."""
    flat, width, height = page.eval_on_selector(
        selector,
        """canvas => [
        Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data),
        canvas.width, canvas.height]""",
    )
    return np.array(flat, np.uint8).reshape(height, width, 4)


def dark_pixels(page):
    """How many of the pad's pixels are darker than mid-grey (counted in the page: the pad is large)."""
    return page.eval_on_selector(
        "#pad",
        """canvas => {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let dark = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] < 128) dark += 1;
        return dark;
    }""",
    )


def test_page_starts_blank_and_loads_nothing_from_elsewhere(page, served_mnist):
    prediction = page.locator("#prediction")
    assert prediction.inner_text() == "draw a digit" and prediction.get_attribute("data-class") is None
    assert page.eval_on_selector_all("#bars .value", "values => values.map(v => v.textContent)") == [""] * 10
    assert "Dense(784, 128)" in page.inner_text("#model-summary")
    origin = urlsplit(served_mnist).netloc
    assert page.requested and all(
        urlsplit(url).netloc == origin for url in page.requested if not url.startswith("data:")
    )


def test_a_vertical_stroke_reads_as_one(page, screenshot_dir):
    clear(page)
    mouse_stroke(page, [(140, 40), (141, 120), (140, 240)])
    digit, probabilities, printed = shown_answer(page)
    assert digit == 1
    assert page.locator("#prediction strong").inner_text() == "1"
    assert sum(probabilities) == pytest.approx(1, abs=1e-6)
    assert abs(sum(float(p.rstrip("%")) for p in printed) - 100) <= 0.5  # ten values rounded to 0.1
    page.screenshot(path=screenshot_dir / "one.png", full_page=True, animations="disabled")


def test_a_closed_loop_reads_as_zero_and_the_look_inside_is_drawn(page, screenshot_dir):
    clear(page)
    mouse_stroke(page, ellipse(140, 140, 60, 90))
    digit, probabilities, _ = shown_answer(page)
    assert digit == 0
    assert sum(probabilities) == pytest.approx(1, abs=1e-6)
    assert max(probabilities) == probabilities[0]
    seen = canvas_pixels(page, "#seen")
    assert seen[..., 0].max() == 255 and (seen[..., 0] == 0).mean() > 0.5  # white ink on black, like MNIST
    saliency = canvas_pixels(page, "#saliency").astype(int)
    red, blue = saliency[..., 0] - saliency[..., 2], saliency[..., 2] - saliency[..., 0]
    assert (red > 100).sum() > 10 and (blue > 100).sum() > 10  # pixels that raise and that lower the score
    titles = page.eval_on_selector_all("#layers .layer h3", "hs => hs.map(h => h.textContent)")
    assert titles == ["Hidden layer 1: Dense(784, 128) \u2192 ReLU()", "Hidden layer 2: Dense(128, 64) \u2192 ReLU()"]
    assert page.locator("#layers canvas").count() == 2
    page.screenshot(path=screenshot_dir / "zero.png", full_page=True, animations="disabled")


def test_clear_returns_to_draw_a_digit(page, screenshot_dir):
    clear(page)
    mouse_stroke(page, [(140, 40), (140, 240)])
    assert page.locator("#prediction").get_attribute("data-state") == "answered"
    clear(page)
    prediction = page.locator("#prediction")
    assert prediction.inner_text() == "draw a digit" and prediction.get_attribute("data-state") == "blank"
    assert page.eval_on_selector_all("#bars li", "items => items.map(li => li.dataset.probability)") == [None] * 10
    assert dark_pixels(page) == 0  # white paper again
    assert page.locator("#layers canvas").count() == 0
    page.screenshot(path=screenshot_dir / "cleared.png", full_page=True, animations="disabled")


@pytest.mark.parametrize("pointer", ["touch", "pen"])
def test_touch_and_pen_draw_too(browser, served_mnist, pointer):
    context = browser.new_context(viewport={"width": 1000, "height": 900}, has_touch=pointer == "touch")
    try:
        page = context.new_page()
        page.goto(served_mnist)
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#pad").bounding_box()["width"] < PAD  # a narrow window shrinks the pad
        cdp = context.new_cdp_session(page)
        points = on_screen(page, [(140, y) for y in range(40, 241, 20)])
        if pointer == "touch":
            for i, (x, y) in enumerate(points):
                cdp.send(
                    "Input.dispatchTouchEvent",
                    {"type": "touchStart" if i == 0 else "touchMove", "touchPoints": [{"x": x, "y": y}]},
                )
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        else:
            for i, (x, y) in enumerate(points):
                cdp.send(
                    "Input.dispatchMouseEvent",
                    {
                        "type": "mousePressed" if i == 0 else "mouseMoved",
                        "x": x,
                        "y": y,
                        "button": "left",
                        "buttons": 1,
                        "clickCount": 1,
                        "pointerType": "pen",
                        "force": 0.5,
                    },
                )
            cdp.send(
                "Input.dispatchMouseEvent",
                {
                    "type": "mouseReleased",
                    "x": points[-1][0],
                    "y": points[-1][1],
                    "button": "left",
                    "clickCount": 1,
                    "pointerType": "pen",
                },
            )
        page.wait_for_function(IDLE)
        assert dark_pixels(page) > 1000  # the stroke left ink
        assert shown_answer(page)[0] == 1
    finally:
        context.close()


DRAW_DIGIT = """pixels => {
    // An MNIST digit as a person's dark ink on white paper, upscaled into the pad.
    const small = document.createElement('canvas');
    small.width = small.height = 28;
    const image = new ImageData(28, 28);
    pixels.forEach((v, i) => image.data.set([255 - v, 255 - v, 255 - v, 255], 4 * i));
    small.getContext('2d').putImageData(image, 0, 0);
    const pad = document.getElementById('pad');
    const context = pad.getContext('2d');
    context.imageSmoothingEnabled = true;
    context.imageSmoothingQuality = 'high';
    context.drawImage(small, 0, 0, pad.width, pad.height);
    pad.dispatchEvent(new CustomEvent('inkchange', {detail: {immediate: true}}));
}"""


def test_mnist_digits_drawn_into_the_pad_read_as_the_originals(page, mnist_classifier, digit_arrays, screenshot_dir):
    images, labels = digit_arrays
    expected = mnist_classifier.predict(images)
    shown, round_trips = [], []
    for i, image in enumerate(images):
        clear(page)
        page.evaluate(DRAW_DIGIT, image.reshape(-1).tolist())
        page.wait_for_function(IDLE)
        shown.append(shown_answer(page)[0])
        round_trips.append(float(page.inner_text("#detail").split()[2]))
        if i == 7:
            page.screenshot(path=screenshot_dir / "mnist-digit.png", full_page=True, animations="disabled")
    same = int(np.sum(np.array(shown) == expected))
    print(
        f"\n{same}/100 drawn MNIST digits read as the model reads the originals "
        f"({int(np.sum(np.array(shown) == labels))}/100 correct; originals {int(np.sum(expected == labels))}/100); "
        f"page round trip median {statistics.median(round_trips):.0f} ms"
    )
    assert same >= 95


def test_a_cnn_shows_its_first_convolutions_feature_maps(browser, tmp_path, screenshot_dir):
    from web_demo import start_server, stop_server

    from scratchnn.classifier import Classifier
    from scratchnn.nn import build_model, parse_architecture

    arch = "conv8k5 relu maxpool2 flatten dense32 relu dense10"
    Classifier(build_model(parse_architecture(arch), (1, 28, 28), seed=0), "mnist").save(tmp_path / "cnn.npz")
    process, url, _ = start_server(tmp_path / "cnn.npz")
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        mouse_stroke(page, ellipse(140, 140, 60, 90))
        shown_answer(page)  # an answer, whatever an untrained network makes of it
        titles = page.eval_on_selector_all("#layers .layer h3", "hs => hs.map(h => h.textContent)")
        assert titles[0].startswith("Hidden layer 1: Conv2D(1, 8, kernel=5") and len(titles) == 2
        assert page.locator("#layers .maps canvas").count() == 8  # one 24x24 map per filter
        page.screenshot(path=screenshot_dir / "cnn.png", full_page=True, animations="disabled")
    finally:
        context.close()
        stop_server(process)
