"""The Python API: train, load, predict on arrays and pictures, evaluate, save."""

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image
from user_images import user_style_images

import scratchnn
from scratchnn.classifier import Classifier, make_config
from scratchnn.errors import ConfigError, ImageError, ModelFileError, RunFolderError
from scratchnn.nn import build_mlp
from scratchnn.training.run_folder import open_existing_run


def test_predict_takes_batches_single_images_uint8_and_floats(digit_classifier, mnist):
    images = mnist.test.images[:50]
    predicted = digit_classifier.predict(images)
    assert predicted.shape == (50,) and predicted.dtype.kind == "i"
    assert np.array_equal(predicted, digit_classifier.predict(images.reshape(50, 784)))
    assert np.array_equal(predicted, digit_classifier.predict(images / 255.0))
    assert np.array_equal(predicted, digit_classifier.network.predict(images.reshape(50, -1) / np.float32(255)))
    one = digit_classifier.predict(images[3])
    assert isinstance(one, int) and one == predicted[3]
    assert digit_classifier.predict(images[3].reshape(-1)) == one
    assert digit_classifier.predict(images[3:4]).tolist() == [one]
    # uint8 is scaled by 1/255; floats are used as they are.
    assert not np.allclose(
        digit_classifier.predict_proba(images), digit_classifier.predict_proba(images.astype(np.float32)), atol=0.01
    )
    with pytest.raises(ValueError, match="784 values"):
        digit_classifier.predict(np.zeros((5, 27, 27)))


def test_predict_proba_rows_are_distributions_that_agree_with_predict(digit_classifier, mnist):
    proba = digit_classifier.predict_proba(mnist.test.images[:20])
    assert proba.shape == (20, 10)
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(proba.argmax(axis=1), digit_classifier.predict(mnist.test.images[:20]))
    assert digit_classifier.predict_proba(mnist.test.images[0]).shape == (10,)


def test_predict_images_from_files_pil_images_and_arrays(digit_classifier, mnist, tmp_path):
    pictures = user_style_images(mnist.test.images[:5])
    paths = []
    for i, picture in enumerate(pictures):
        paths.append(tmp_path / f"{i}.png")
        picture.save(paths[-1])
    from_files = digit_classifier.predict_images(paths)
    from_pil = digit_classifier.predict_images([Image.open(p) for p in paths])
    from_arrays = digit_classifier.predict_images([np.asarray(Image.open(p)) for p in paths])  # RGB, RGBA, 16-bit
    labels = [r.label for r in from_files]
    assert labels == [r.label for r in from_pil] == [r.label for r in from_arrays]
    record = from_files[0]
    assert record.source == str(paths[0]) and from_pil[0].source == "image 0"
    assert record.ok and record.name == str(record.label) and record.image.shape == (28, 28)
    assert len(record.top) == 3 and record.top[0][0] == record.label
    assert [p for _, _, p in record.top] == sorted((p for _, _, p in record.top), reverse=True)
    assert record.probability == pytest.approx(digit_classifier.predict_proba(record.image).max())
    assert len(digit_classifier.predict_images(paths[:1], top=5)[0].top) == 5
    assert record.to_dict()["top"][0] == {"class": record.label, "name": record.name, "probability": record.probability}


def test_predict_images_keeps_going_past_a_bad_file_when_asked(digit_classifier, tmp_path):
    good = tmp_path / "good.png"
    user_style_images(np.zeros((1, 28, 28), np.uint8) + np.eye(28, dtype=np.uint8) * 255)[0].save(good)
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    with pytest.raises(ImageError, match="bad.png"):
        digit_classifier.predict_images([good, bad])
    records = digit_classifier.predict_images([bad, good, tmp_path / "missing.png"], errors="keep")
    assert [r.ok for r in records] == [False, True, False]
    assert "not an image" in records[0].error and "no such file" in records[2].error
    assert records[0].to_dict() == {"path": str(bad), "error": records[0].error}
    assert records[1].label is not None
    with pytest.raises(ImageError):
        digit_classifier.predict_image(bad)


def test_ink_option_reaches_the_preprocessing(digit_classifier):
    white_paper = Image.new("L", (60, 60), 255)
    white_paper.paste(0, (25, 10, 35, 50))  # a dark "1"
    assert digit_classifier.predict_image(white_paper, ink="dark").ok
    with pytest.raises(ImageError, match="blank"):
        digit_classifier.predict_image(white_paper, ink="light")


def test_save_and_load_keep_predictions_dataset_and_class_names(digit_classifier, mnist, tmp_path):
    path = tmp_path / "model.npz"
    digit_classifier.save(path)
    loaded = scratchnn.load_model(path)
    assert isinstance(loaded, Classifier) and loaded.dataset == "mnist"
    assert loaded.metadata["test_accuracy"] == digit_classifier.metadata["test_accuracy"]
    assert np.array_equal(loaded.predict(mnist.test.images), digit_classifier.predict(mnist.test.images))
    clothes = Classifier(build_mlp((784, 8, 10)), dataset="fashion-mnist")
    clothes.save(tmp_path / "clothes.npz")
    again = scratchnn.load_model(tmp_path / "clothes.npz")
    assert again.dataset == "fashion-mnist" and again.class_names[7] == "Sneaker"
    with pytest.raises(ModelFileError, match="no such model file"):
        scratchnn.load_model(tmp_path / "nothing.npz")


def test_a_fashion_model_frames_pictures_as_clothes(tmp_path):
    ink = Image.new("L", (100, 100), 0)
    ink.paste(255, (0, 0, 100, 30))
    ink.paste(255, (0, 0, 30, 100))  # an "L": its mass is off its box's centre
    digits = Classifier(build_mlp((784, 8, 10)), dataset="mnist").preprocess(ink)
    clothes = Classifier(build_mlp((784, 8, 10)), dataset="fashion-mnist").preprocess(ink)
    assert clothes[0].any() and clothes[:, 0].any() and clothes[27].any()  # fills the frame
    assert not digits[0].any() and not np.array_equal(digits, clothes)


def test_make_config_from_presets_configs_and_dicts():
    mlp = make_config("mlp", epochs=3)
    assert (mlp.optimizer, mlp.batch_size, mlp.epochs) == ("adam", 128, 3)
    assert make_config("mlp", dataset="fashion-mnist").hflip is True  # the preset adapts
    assert make_config(mlp, lr=0.1).lr == 0.1 and mlp.lr == 3e-3
    assert make_config({"epochs": 2}).epochs == 2
    assert make_config() == scratchnn.TrainConfig()
    with pytest.raises(ConfigError, match="unknown preset"):
        make_config("mpl")
    with pytest.raises(ConfigError, match="unknown training settings"):
        make_config("mlp", epoch=3)
    with pytest.raises(ConfigError, match="learning rate"):
        make_config("mlp", lr=-1)


def test_train_returns_a_classifier_with_history_and_test_result(mnist, tmp_path):
    def head(split, n):
        return dataclasses.replace(split, images=split.images[:n], labels=split.labels[:n])

    small = dataclasses.replace(mnist, train=head(mnist.train, 3000), test=head(mnist.test, 500))
    lines = []
    model = scratchnn.train(
        "mlp",
        small,
        layers=(784, 32, 10),
        epochs=2,
        validation_size=300,
        augment=False,
        run_dir=tmp_path / "run",
        log=lines.append,
    )
    assert len(model.history) == 2 == len(lines) and model.metadata["epochs_trained"] == 2
    assert model.metadata["config"]["layers"] == [784, 32, 10] and model.metadata["config"]["optimizer"] == "adam"
    assert model.metadata["test_accuracy"] == model.evaluate(small).accuracy > 0.75
    assert (tmp_path / "run" / "metrics.json").exists() and (tmp_path / "run" / "checkpoint.npz").exists()


def test_train_into_a_run_dir_follows_the_command_lines_run_folder_rules(mnist, tmp_path):
    def head(split, n):
        return dataclasses.replace(split, images=split.images[:n], labels=split.labels[:n])

    small = dataclasses.replace(mnist, train=head(mnist.train, 400), test=head(mnist.test, 100))
    settings = dict(layers=(784, 16, 10), epochs=1, validation_size=100, augment=False)
    run_dir = tmp_path / "run"
    refused_while_training = []

    def log(line):  # called after each epoch, while the run holds its folder
        with pytest.raises(RunFolderError, match="in use") as caught:
            open_existing_run(run_dir)
        refused_while_training.append(caught.value)

    scratchnn.train("mlp", small, run_dir=run_dir, log=log, **settings)
    assert len(refused_while_training) == 1
    assert json.loads((run_dir / "config.json").read_text())["layers"] == [784, 16, 10]
    # Like `scratchnn train --name run` a second time: refused, the first run untouched.
    (run_dir / "old-plot.png").write_bytes(b"from the first run")
    with pytest.raises(RunFolderError, match="already exists"):
        scratchnn.train("mlp", small, run_dir=run_dir, log=None, **settings)
    assert (run_dir / "old-plot.png").exists()
    # A folder another process holds is refused, even with overwrite.
    with open_existing_run(run_dir), pytest.raises(RunFolderError, match="in use"):
        scratchnn.train("mlp", small, run_dir=run_dir, overwrite=True, log=None, **settings)
    # overwrite replaces the old run whole.
    scratchnn.train("mlp", small, run_dir=run_dir, overwrite=True, log=None, **{**settings, "epochs": 2})
    assert not (run_dir / "old-plot.png").exists()
    assert [row["epoch"] for row in json.loads((run_dir / "metrics.json").read_text())] == [1, 2]


def test_evaluate_takes_a_dataset_a_split_or_arrays(digit_classifier, mnist):
    by_dataset = digit_classifier.evaluate(mnist)
    by_split = digit_classifier.evaluate(mnist.test)
    by_arrays = digit_classifier.evaluate(mnist.test.images, mnist.test.labels)
    assert by_dataset.accuracy == by_split.accuracy == by_arrays.accuracy > 0.93
    with pytest.raises(ValueError, match="labels"):
        digit_classifier.evaluate(mnist.test.images)
    wrong = dataclasses.replace(mnist, class_names=tuple("abcde"))
    with pytest.raises(ModelFileError, match="5"):
        digit_classifier.evaluate(wrong)


def test_user_style_pictures_are_classified_like_the_digits_they_came_from(digit_classifier, mnist):
    """200 pictures (inverted, transparent, coloured, 16-bit, JPEG, off-centre, ~300 px)."""
    digits, labels = mnist.test.images[:200], mnist.test.labels[:200]
    records = digit_classifier.predict_images(user_style_images(digits, seed=1))
    predicted = np.array([r.label for r in records])
    agreement = np.mean(predicted == digit_classifier.predict(digits))
    accuracy = np.mean(predicted == labels)
    assert agreement >= 0.93 and accuracy >= 0.92, (agreement, accuracy)


def test_help_on_the_package_lists_the_api():
    import pydoc

    text = pydoc.render_doc(scratchnn, renderer=pydoc.plaintext)
    for name in ("load_model", "train", "load_dataset", "preprocess_image", "Classifier", "predict_images"):
        assert name in text
    for name in scratchnn.__all__:
        assert getattr(scratchnn, name).__doc__, name


def test_a_convolutional_model_takes_the_same_inputs(mnist, tmp_path):
    from scratchnn.nn.architecture import build_model, parse_architecture

    network = build_model(parse_architecture("conv4k3 relu pool2 flatten dense10"), (1, 28, 28), seed=0)
    cnn = Classifier(network)
    assert cnn.input_shape == (1, 28, 28) and cnn.input_size == 784
    images = mnist.test.images[:20]
    predicted = cnn.predict(images)
    assert predicted.shape == (20,)
    assert np.array_equal(predicted, cnn.predict(images.reshape(20, 784)))
    assert np.array_equal(predicted, cnn.predict(images.reshape(20, 1, 28, 28) / 255.0))
    assert cnn.predict(images[4]) == predicted[4]
    assert len(cnn.predict_images(user_style_images(images[:3]))) == 3
    cnn.save(tmp_path / "cnn.npz")
    assert np.array_equal(scratchnn.load_model(tmp_path / "cnn.npz").predict(images), predicted)
