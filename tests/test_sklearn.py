"""The scikit-learn estimator: scikit-learn's own checks, Pipelines, search, options."""

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the estimator tests need scikit-learn (pip install -e '.[test]')")
from sklearn.datasets import load_digits, load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from scratchnn.errors import DivergenceError  # noqa: E402
from scratchnn.nn import BatchNorm, Dropout  # noqa: E402
from scratchnn.sklearn import NeuralNetClassifier  # noqa: E402

# Small and quick: the checks fit a few hundred rows dozens of times.
CHECKED = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=20, batch_size=32, lr=0.01, random_state=0)
# The checks that cannot pass, by name, with the reason (scikit-learn 1.9.1 runs 55).
UNSCALED = (
    "its data are 2 features around 100, not scaled: the first batch's loss is above the trainer's "
    "divergence limit (100 ln(classes)), and scratchnn stops with a DivergenceError asking to scale "
    "the features instead of training on"
)
EXPECTED_FAILURES = {
    "check_fit_idempotent": UNSCALED,
    "check_fit_check_is_fitted": UNSCALED,
    "check_n_features_in": UNSCALED,
}


def check_name(check):
    return getattr(check, "func", check).__name__


@parametrize_with_checks([CHECKED], expected_failed_checks=lambda estimator: EXPECTED_FAILURES)
def test_scikit_learn_estimator_checks(estimator, check, monkeypatch):
    if check_name(check) == "check_array_api_input":
        # This check (NumPy inputs with array-API dispatch on) skips unless the
        # variable is set; SciPy reads it only for other namespaces than NumPy.
        monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


def quick(**params):
    return NeuralNetClassifier(
        **{"hidden_layer_sizes": (16,), "epochs": 15, "batch_size": 16, "lr": 0.01, "random_state": 0, **params}
    )


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


def test_pipeline_on_real_mnist(mnist):
    X = mnist.train.images[:3000].reshape(3000, -1)
    X_test = mnist.test.images[:1000].reshape(1000, -1)
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier(hidden_layer_sizes=(64,), epochs=5, random_state=0))
    pipe.fit(X, mnist.train.labels[:3000])
    assert pipe.score(X_test, mnist.test.labels[:1000]) > 0.85  # chance is 0.10
    assert pipe[-1].n_features_in_ == 784 and list(pipe[-1].classes_) == list(range(10))


def test_grid_search_sets_the_parameters_it_searches(iris):
    X, y = iris
    search = GridSearchCV(quick(lr=3e-3), {"epochs": [1, 40]}, cv=3).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.05  # 40 epochs clearly beat 1: the setting reached the estimator
    assert search.best_params_ == {"epochs": 40}
    assert search.best_estimator_.n_epochs_ == 40
    assert search.score(X, y) > 0.9


def test_cross_val_score_on_digits(digits):
    X, y = digits
    scores = cross_val_score(
        make_pipeline(StandardScaler(), quick(hidden_layer_sizes=(32,), batch_size=32)), X, y, cv=3
    )
    assert scores.shape == (3,) and scores.min() > 0.85


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["setosa", "versicolor", "virginica"]),
        np.array([-5, 0, 7]),
        np.array([1.0, 2.0, 3.0]),
        np.array(["cat", 3, None], dtype=object)[[1, 0, 2]].astype(str),
    ],
    ids=["str", "int", "float", "mixed-as-str"],
)
def test_labels_of_any_type_come_back_as_they_were(iris, labels):
    X, y = iris
    clf = quick().fit(X, labels[y])
    assert list(clf.classes_) == sorted(labels)
    predicted = clf.predict(X)
    assert predicted.dtype == labels.dtype
    assert np.mean(predicted == labels[y]) > 0.9
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], predicted)


def test_any_number_of_features_and_classes():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (7, 3))
    y = rng.integers(0, 7, 700)
    X = centres[y] + rng.normal(0, 0.5, (700, 3))
    clf = quick(hidden_layer_sizes=(32, 16)).fit(X, y)
    assert clf.n_features_in_ == 3 and len(clf.classes_) == 7
    assert repr(clf.model_) == "Sequential(Dense(3, 32), ReLU(), Dense(32, 16), ReLU(), Dense(16, 7))"
    assert clf.predict_proba(X).shape == (700, 7)
    assert clf.score(X, y) > 0.95
    with pytest.raises(ValueError, match="X has 4 features, but NeuralNetClassifier is expecting 3"):
        clf.predict(np.zeros((2, 4)))


def test_same_random_state_same_model_other_state_other_model(iris):
    X, y = iris
    a, b = quick(dropout=0.2, random_state=3).fit(X, y), quick(dropout=0.2, random_state=3).fit(X, y)
    c = quick(dropout=0.2, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.model_.params, b.model_.params)
    assert not np.array_equal(a.model_.params, c.model_.params)


def test_partial_fit_epochs_add_up_to_fit_even_through_a_pickle(iris):
    """Three partial_fit calls on the same data are the three epochs of fit, to
    the bit: weights, optimiser state, shuffling and dropout carry over."""
    X, y = iris
    full = quick(epochs=3, dropout=0.2).fit(X, y)
    step = quick(epochs=3, dropout=0.2).partial_fit(X, y, classes=[0, 1, 2])
    step = pickle.loads(pickle.dumps(step))
    step.partial_fit(X, y).partial_fit(X, y)
    assert step.n_epochs_ == 3
    np.testing.assert_array_equal(step.model_.params, full.model_.params)
    np.testing.assert_array_equal(step.predict_proba(X), full.predict_proba(X))


def test_partial_fit_guards_its_classes(iris):
    X, y = iris
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        quick().partial_fit(X, y)
    clf = quick().partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # a class may be missing from a batch
    assert list(clf.classes_) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"labels that are not in classes: \[5\]"):
        clf.partial_fit(X[:3], [0, 1, 5])
    with pytest.raises(ValueError, match="differ from the first call"):
        clf.partial_fit(X, y, classes=[0, 1])


def fitted_params(iris, **params):
    X, y = iris
    return quick(**params).fit(X, y).model_.params


@pytest.mark.parametrize(
    "option, value",
    [
        ("optimizer", "sgd"),
        ("optimizer", "rmsprop"),
        ("lr", 0.003),
        ("batch_size", 0),
        ("batch_size", 64),
        ("weight_decay", 0.01),
        ("dropout", 0.3),
        ("epochs", 5),
        ("random_state", 1),
    ],
)
def test_every_training_option_changes_the_result(iris, option, value):
    assert not np.array_equal(fitted_params(iris, **{option: value}), fitted_params(iris))


def test_momentum_and_weight_decay_reach_the_optimiser(iris):
    plain = fitted_params(iris, optimizer="sgd", lr=0.05)
    assert not np.array_equal(fitted_params(iris, optimizer="sgd", lr=0.05, momentum=0.9), plain)
    decayed = quick(weight_decay=0.5).fit(*iris).model_
    plain = quick().fit(*iris).model_
    assert np.abs(decayed.layers[0].W).sum() < 0.8 * np.abs(plain.layers[0].W).sum()


def test_layers_batch_norm_dropout_and_dtype_shape_the_network(iris):
    X, y = iris
    clf = quick(hidden_layer_sizes=(8, 6), batch_norm=True, dropout=0.1, dtype="float64").fit(X, y)
    kinds = [type(layer) for layer in clf.model_.layers]
    assert kinds.count(BatchNorm) == 2 and kinds.count(Dropout) == 2
    assert clf.model_.layers[0].W.shape == (4, 8)
    assert clf.model_.dtype == np.float64 and clf.predict_proba(X).dtype == np.float64
    assert quick(hidden_layer_sizes=()).fit(X, y).model_.layers[0].W.shape == (4, 3)  # softmax regression


def test_early_stopping_holds_out_a_validation_fraction(iris):
    X, y = iris
    clf = quick(epochs=200, early_stopping=3, validation_fraction=0.2).fit(X, y)
    assert clf.n_epochs_ < 200 and clf.best_epoch_ == clf.n_epochs_ - 3
    assert "val_loss" in clf.history_[0]
    # 30 of the 150 rows validate: accuracies are multiples of 1/30.
    assert all(round(row["val_accuracy"] * 30, 6) % 1 == 0 for row in clf.history_)
    other = quick(epochs=200, early_stopping=3, validation_fraction=0.4).fit(X, y)
    assert all(round(row["val_accuracy"] * 60, 6) % 1 == 0 for row in other.history_)
    assert any(round(row["val_accuracy"] * 30, 6) % 1 for row in other.history_)
    assert "val_loss" not in quick().fit(X, y).history_[0]


def test_verbose_prints_one_line_per_epoch(iris, capsys):
    quick(epochs=3).fit(*iris)
    assert capsys.readouterr().out == ""
    quick(epochs=3, verbose=True).fit(*iris)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"optimizer": "nadam"}, "optimizer (--optimizer) must be one of adam, adamw, rmsprop, sgd, got 'nadam'"),
        ({"lr": 0}, "learning rate (--lr) must be"),
        ({"dropout": 1.0}, "dropout probability (--dropout) must be"),
        ({"hidden_layer_sizes": (0,)}, "layers"),
        ({"early_stopping": 2, "validation_fraction": 1.5}, "validation_fraction must be in (0, 1)"),
    ],
)
def test_bad_settings_are_one_clear_value_error(iris, params, message):
    with pytest.raises(ValueError, match=re_escape(message)):
        quick(**params).fit(*iris)


def re_escape(text):
    import re

    return re.escape(text)


def test_unscaled_features_that_diverge_get_a_hint_to_scale_them(iris):
    X, y = iris
    with pytest.raises(DivergenceError, match=r"The features reach \|x\| = 30\d: scale them"):
        quick().fit(X + 300, y)
    quick().fit(X, y)  # the same rows, scaled, train


def test_an_architecture_with_an_input_shape_trains_a_cnn_on_mnist_rows(mnist):
    X = mnist.train.images[:2000].reshape(2000, -1)
    clf = make_pipeline(
        MinMaxScaler(),
        NeuralNetClassifier(
            architecture="conv4k3 relu maxpool2 flatten dropout0.1",
            input_shape=(1, 28, 28),
            epochs=3,
            batch_size=64,
            lr=3e-3,
            random_state=0,
        ),
    )
    clf.fit(X, mnist.train.labels[:2000])
    net = clf[-1].model_
    assert net.input_shape == (1, 28, 28)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2D",
        "ReLU",
        "MaxPool2D",
        "Flatten",
        "Dropout",
        "Dense",
    ]
    assert net.layers[-1].n_out == 10  # the output layer, one unit per class, added
    assert clf.score(mnist.test.images[:500].reshape(500, -1), mnist.test.labels[:500]) > 0.8


def test_architecture_as_specs_and_what_does_not_fit(iris):
    X, y = iris
    clf = quick(architecture=[{"type": "Dense", "units": 5}, {"type": "ReLU"}]).fit(X, y)
    assert repr(clf.model_) == "Sequential(Dense(4, 5), ReLU(), Dense(5, 3))"  # hidden_layer_sizes not used
    assert clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match=r"input_shape \(2, 3\) holds 6 numbers; X has 4 features"):
        quick(input_shape=(2, 3)).fit(X, y)
    with pytest.raises(ValueError, match="Conv2D needs feature maps"):
        quick(architecture="conv4k3 flatten").fit(X, y)
    with pytest.raises(ValueError, match="cannot read 'conv4q3'"):
        quick(architecture="conv4q3").fit(X, y)


def run_python(code):
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(src)!r}); {code}"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_core_library_never_imports_the_optional_extras():
    done = run_python(
        "import scratchnn, scratchnn.cli, scratchnn.training, scratchnn.nn; "
        "scratchnn.cli.build_parser(); "
        "print(sorted(m for m in ('sklearn', 'onnx', 'onnxruntime', 'pandas') if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_scikit_learn_the_import_error_says_what_to_install():
    done = run_python("sys.modules['sklearn'] = None; import scratchnn.sklearn")
    assert "scratchnn.sklearn needs scikit-learn >= 1.6: pip install 'scratchnn[sklearn]'" in done.stderr
