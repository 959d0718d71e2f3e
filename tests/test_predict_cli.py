"""`scratchnn predict`: pictures and folders in, one line (or JSON record) per picture out."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from user_images import write_user_style_files

from scratchnn.classifier import Classifier
from scratchnn.cli import main
from scratchnn.nn import build_mlp

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_file(digit_classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.npz"
    digit_classifier.save(path)
    return path


@pytest.fixture(scope="module")
def pictures(mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    return folder, write_user_style_files(mnist.test.images[:10], folder)


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_folder_gives_one_line_per_picture_with_class_probability_and_top_3(
    model_file, pictures, capsys, digit_classifier, mnist
):
    folder, paths = pictures
    code, out, err = run(["predict", str(model_file), str(folder)], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(p) for p in paths]
    expected = digit_classifier.predict_images(paths)
    for line, record in zip(lines, expected):
        assert line == (
            f"{record.source}: {record.label} {record.probability:.1%}  top 3: "
            + ", ".join(f"{c} {p:.1%}" for c, _, p in record.top)
        )
    assert np.mean([r.label for r in expected] == mnist.test.labels[:10]) >= 0.8


def test_json_gives_one_record_per_picture_and_top_changes_its_length(model_file, pictures, capsys):
    folder, paths = pictures
    code, out, _ = run(["predict", str(model_file), str(paths[0]), str(paths[1]), "--json", "--top", "5"], capsys)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["path"] for r in records] == [str(paths[0]), str(paths[1])]
    first = records[0]
    assert set(first) == {"path", "class", "name", "probability", "top"} and len(first["top"]) == 5
    assert first["top"][0] == {"class": first["class"], "name": first["name"], "probability": first["probability"]}


def test_bad_files_get_one_line_each_the_rest_are_still_classified(model_file, pictures, tmp_path, capsys):
    _, paths = pictures
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "blank.png").write_bytes(b"")
    Image.new("L", (40, 40), 255).save(tmp_path / "white.png")
    bad = [tmp_path / "notes.txt", tmp_path / "blank.png", tmp_path / "white.png", tmp_path / "missing.jpg"]
    code, out, err = run(["predict", str(model_file), str(paths[0]), *map(str, bad), str(paths[1])], capsys)
    assert code == 2
    assert [line.split(":")[0] for line in out.splitlines()] == [str(paths[0]), str(paths[1])]
    errors = err.splitlines()
    assert len(errors) == 5 and errors[-1] == "scratchnn predict: 4 of 6 pictures could not be classified"
    for path, line, why in zip(bad, errors, ("not an image", "empty file", "blank image", "no such file")):
        assert line.startswith(f"scratchnn predict: error: {path}: ") and why in line
    code, out, err = run(["predict", str(model_file), str(bad[0]), "--json"], capsys)
    assert code == 2 and json.loads(out) == {"path": str(bad[0]), "error": err.splitlines()[0].split("error: ", 1)[1]}


def test_folders_are_searched_recursively_for_image_files_only(model_file, pictures, tmp_path, capsys):
    _, paths = pictures
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for target in (tmp_path / "a" / "one.jpg", tmp_path / "a" / "b" / "two.JPG", tmp_path / ".hidden" / "x.jpg"):
        target.write_bytes(paths[0].read_bytes())
    (tmp_path / "a" / "README.txt").write_text("pictures of my digits")
    (tmp_path / "empty").mkdir()
    code, out, err = run(["predict", str(model_file), str(tmp_path / "a"), str(tmp_path / "empty")], capsys)
    assert [line.split(":")[0] for line in out.splitlines()] == [
        str(tmp_path / "a" / "b" / "two.JPG"),
        str(tmp_path / "a" / "one.jpg"),
    ]
    assert code == 2 and "empty: is a folder" in err


def test_save_preprocessed_writes_what_the_network_saw(model_file, pictures, tmp_path, capsys, digit_classifier):
    _, paths = pictures
    out_dir = tmp_path / "seen"
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / paths[0].name).write_bytes(paths[0].read_bytes())  # the same name twice
    code, _, _ = run(
        [
            "predict",
            str(model_file),
            *map(str, paths[:3]),
            str(twin / paths[0].name),
            "--save-preprocessed",
            str(out_dir),
        ],
        capsys,
    )
    assert code == 0
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == sorted([p.stem + ".png" for p in paths[:3]] + [paths[0].stem + "-2.png"])
    saved = np.asarray(Image.open(out_dir / (paths[1].stem + ".png")))
    assert saved.shape == (28, 28) and saved.dtype == np.uint8
    expected = digit_classifier.preprocess(paths[1])
    assert np.abs(saved / 255 - expected).max() <= 0.5 / 255 + 1e-6


def test_ink_flag_is_passed_on(model_file, tmp_path, capsys):
    dark = Image.new("L", (60, 60), 255)
    dark.paste(0, (25, 10, 35, 50))
    dark.save(tmp_path / "one.png")
    assert run(["predict", str(model_file), str(tmp_path / "one.png"), "--ink", "dark"], capsys)[0] == 0
    code, _, err = run(["predict", str(model_file), str(tmp_path / "one.png"), "--ink", "light"], capsys)
    assert code == 2 and "blank image" in err


def test_a_fashion_model_names_its_classes(pictures, tmp_path, capsys):
    path = tmp_path / "clothes.npz"
    Classifier(build_mlp((784, 8, 10)), dataset="fashion-mnist").save(path)
    code, out, _ = run(["predict", str(path), str(pictures[1][0])], capsys)
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert code == 0 and any(f": {name} (class {i}) " in out for i, name in enumerate(names))


def test_a_bad_model_or_a_bad_picture_never_shows_a_traceback(pictures, tmp_path):
    (tmp_path / "model.npz").write_bytes(b"not a model")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    for args in (
        ["predict", str(tmp_path / "model.npz"), str(pictures[1][0])],
        ["predict", str(tmp_path / "nothing.npz"), str(pictures[1][0])],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "scratchnn", *args], capture_output=True, text=True, cwd=ROOT / "src"
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.startswith("scratchnn predict: error: ") and len(done.stderr.splitlines()) == 1
