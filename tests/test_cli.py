"""The command line: train, evaluate, download, resume after a kill, bad input."""

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scratchnn.cli import build_parser, config_from_args, main
from scratchnn.data import find_dataset_dir
from scratchnn.errors import DataError
from scratchnn.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "--layers",
    "784,32,10",
    "--epochs",
    "2",
    "--batch-size",
    "256",
    "--optimizer",
    "adam",
    "--lr",
    "0.003",
    "--validation-size",
    "1000",
    "--no-download",
]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def holds_a_complete_copy(root, name):
    """Whether ``root`` holds dataset ``name`` as scratchnn would use it (a failed
    download can leave an empty folder of that name behind)."""
    try:
        return find_dataset_dir(name, root) is not None
    except DataError:
        return False


def test_train_writes_model_metrics_plots_and_evaluate_agrees(tmp_path, shared_data, capsys):
    code, out, err = run_cli(
        ["train", *QUICK, "--data-dir", str(shared_data), "--output-dir", str(tmp_path), "--name", "quick"], capsys
    )
    assert code == 0, err
    run = tmp_path / "quick"
    for name in (
        "model.npz",
        "metrics.json",
        "metrics.csv",
        "loss.png",
        "accuracy.png",
        "config.json",
        "checkpoint.npz",
    ):
        assert (run / name).stat().st_size > 0, name
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "test_acc" in lines[-1] and "val_acc" in lines[-1]
    trained = float(out.split("final test accuracy: ")[1].split("%")[0])
    assert trained > 85
    history = json.loads((run / "metrics.json").read_text())
    assert abs(history[-1]["test_accuracy"] * 100 - trained) < 0.005

    code, out, err = run_cli(["evaluate", str(run / "model.npz"), "--data-dir", str(shared_data)], capsys)
    assert code == 0, err
    assert out.startswith(f"mnist test accuracy {trained:.2f}% (") and out.rstrip().endswith(f"({run / 'model.npz'})")
    if holds_a_complete_copy(shared_data, "fashion-mnist"):
        code, out, err = run_cli(
            ["evaluate", str(run / "model.npz"), "--dataset", "fashion-mnist", "--data-dir", str(shared_data)], capsys
        )
        assert code == 0 and "fashion-mnist test accuracy" in out and ", trained on mnist, not fashion-mnist)" in out


def test_flags_override_the_preset():
    args = build_parser().parse_args(
        [
            "train",
            "--preset",
            "mlp",
            "--epochs",
            "3",
            "--lr",
            "0.01",
            "--no-augment",
            "--batch-norm",
            "--dropout",
            "0.25",
        ]
    )
    config = config_from_args(args)
    assert (config.epochs, config.lr, config.augment, config.batch_norm, config.dropout) == (3, 0.01, False, True, 0.25)
    assert config.optimizer == "adam" and config.batch_size == 128  # from the preset


def test_presets_adapt_to_the_dataset_and_flags_still_win():
    digits = config_from_args(build_parser().parse_args(["train", "--preset", "mlp"]))
    clothes = config_from_args(build_parser().parse_args(["train", "--preset", "mlp", "--dataset", "fashion-mnist"]))
    assert (digits.hflip, digits.max_rotation) == (False, 10.0)
    assert (clothes.hflip, clothes.max_rotation, clothes.max_shift) == (True, 0.0, 1.0)
    mine = config_from_args(
        build_parser().parse_args(
            ["train", "--preset", "mlp", "--dataset", "fashion-mnist", "--max-rotation", "5", "--no-hflip"]
        )
    )
    assert (mine.hflip, mine.max_rotation) == (False, 5.0)


def test_every_training_flag_reaches_the_config():
    """Each flag, given a non-default value, changes exactly its own setting."""
    default = TrainConfig()
    flags = {
        "--dataset": ("fashion-mnist", "dataset"),
        "--layers": ("784,50,10", "layers"),
        "--epochs": ("7", "epochs"),
        "--batch-size": ("32", "batch_size"),
        "--optimizer": ("rmsprop", "optimizer"),
        "--lr": ("0.01", "lr"),
        "--weight-decay": ("0.1", "weight_decay"),
        "--dropout": ("0.5", "dropout"),
        "--schedule": ("cosine", "schedule"),
        "--warmup-epochs": ("2", "warmup_epochs"),
        "--step-size": ("3", "step_size"),
        "--gamma": ("0.5", "gamma"),
        "--min-lr": ("0.001", "min_lr"),
        "--max-shift": ("3", "max_shift"),
        "--max-rotation": ("20", "max_rotation"),
        "--max-scale": ("0.2", "max_scale"),
        "--elastic-alpha": ("8", "elastic_alpha"),
        "--elastic-sigma": ("3", "elastic_sigma"),
        "--validation-size": ("100", "validation_size"),
        "--monitor": ("val_accuracy", "monitor"),
        "--seed": ("9", "seed"),
        "--dtype": ("float64", "dtype"),
    }
    # Flags that act only when another one is on are given with it (alone they are refused).
    needs = {
        "--step-size": ["--schedule", "step"],
        "--gamma": ["--schedule", "step"],
        "--min-lr": ["--schedule", "cosine"],
        "--monitor": ["--validation-size", "9", "--early-stopping", "1"],
        **{
            f: ["--augment"]
            for f in ("--max-shift", "--max-rotation", "--max-scale", "--elastic-alpha", "--elastic-sigma", "--hflip")
        },
    }
    for flag, (value, field) in flags.items():
        config = config_from_args(build_parser().parse_args(["train", flag, value, *needs.get(flag, [])]))
        assert getattr(config, field) != getattr(default, field), flag
    switches = {"--augment": "augment", "--batch-norm": "batch_norm", "--hflip": "hflip"}
    for flag, field in switches.items():
        args = build_parser().parse_args(["train", flag, *needs.get(flag, [])])
        assert getattr(config_from_args(args), field) is True
    assert config_from_args(build_parser().parse_args(["train", "--no-test-every-epoch"])).test_every_epoch is False
    both = config_from_args(
        build_parser().parse_args(
            [
                "train",
                "--optimizer",
                "sgd",
                "--momentum",
                "0.9",
                "--nesterov",
                "--validation-size",
                "10",
                "--early-stopping",
                "4",
            ]
        )
    )
    assert (both.momentum, both.nesterov, both.early_stopping) == (0.9, True, 4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--lr", "fast"], "--lr: expected a number, got 'fast'"),
        (["train", "--layers", "784,x,10"], "--layers: expected comma-separated layer sizes"),
        (["train", "--epochs", "0"], "--epochs: number of epochs (--epochs) must be a whole number >= 1, got 0"),
        (["train", "--epochs", "2.5"], "--epochs: expected a whole number, got '2.5'"),
        (["train", "--gamma", "0"], "--gamma: step decay factor gamma (--gamma) must be a finite number > 0, got 0.0"),
        (["train", "--step-size", "0"], "--step-size: step size (epochs between decays) (--step-size) must be"),
        (["train", "--min-lr", "-1"], "--min-lr: minimum learning rate (--min-lr) must be a finite number >= 0"),
        (["train", "--optimizer", "lbfgs"], "--optimizer: invalid choice"),
        (["train", "--lr", "nan"], "--lr: learning rate (--lr) must be a finite number > 0, got nan"),
    ],
)
def test_bad_flags_exit_2_with_a_message_naming_the_flag(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_impossible_combinations_are_one_line_errors(tmp_path, shared_data, capsys):
    code, _, err = run_cli(["train", "--early-stopping", "3", "--output-dir", str(tmp_path)], capsys)
    assert code == 2 and "early stopping watches the validation split" in err and "Traceback" not in err
    code, _, err = run_cli(
        ["train", "--layers", "100,10", "--data-dir", str(shared_data), "--output-dir", str(tmp_path), "--name", "x"],
        capsys,
    )
    assert code == 2 and "first layer size must be 784" in err


def test_existing_run_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.npz").write_bytes(b"precious")
    code, _, err = run_cli(["train", "--output-dir", str(tmp_path), "--name", "taken"], capsys)
    assert code == 2 and "already exists" in err and "--resume" in err
    assert (tmp_path / "taken" / "model.npz").read_bytes() == b"precious"


def test_resume_refuses_changed_settings_and_missing_checkpoints(tmp_path, capsys):
    code, _, err = run_cli(["train", "--resume", str(tmp_path), "--lr", "0.1", "--batch-size", "3"], capsys)
    assert code == 2 and "only --epochs and --device may change, not --batch-size, --lr" in err
    code, _, err = run_cli(["train", "--resume", str(tmp_path)], capsys)
    assert code == 2 and "not a run folder (it has neither checkpoint.npz nor config.json)" in err


def test_evaluate_reports_bad_model_files_cleanly(tmp_path, capsys):
    code, _, err = run_cli(["evaluate", str(tmp_path / "nope.npz")], capsys)
    assert code == 2 and "nope.npz: no such model file" in err
    bad = tmp_path / "bad.npz"
    bad.write_text("hello")
    code, _, err = run_cli(["evaluate", str(bad)], capsys)
    assert code == 2 and "bad.npz" in err and "Traceback" not in err


def test_missing_data_without_download_names_the_places_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("SCRATCHNN_DATA", str(tmp_path / "nothing"))
    from scratchnn.data import datasets

    monkeypatch.setattr(datasets, "SYSTEM_DATASET_DIRS", {})
    code, _, err = run_cli(["evaluate", str(tmp_path / "m.npz"), "--no-download"], capsys)
    assert code == 2  # the model file is checked first
    code, _, err = run_cli(["train", "--no-download", "--output-dir", str(tmp_path)], capsys)
    assert code == 2 and "mnist" in err and "Traceback" not in err


def _cli(*args, env=None):
    return [sys.executable, "-m", "scratchnn", *args]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_killed_run_resumes_to_exactly_the_uninterrupted_result(tmp_path, shared_data):
    args = [
        "train",
        "--layers",
        "784,64,10",
        "--epochs",
        "6",
        "--batch-size",
        "256",
        "--optimizer",
        "adam",
        "--lr",
        "0.002",
        "--dropout",
        "0.1",
        "--validation-size",
        "2000",
        "--no-plots",
        "--quiet",
        "--no-download",
        "--data-dir",
        str(shared_data),
        "--output-dir",
        str(tmp_path),
    ]
    subprocess.run(_cli(*args, "--name", "whole"), env=_env(), check=True, capture_output=True, timeout=300)

    proc = subprocess.Popen(
        _cli(*args, "--name", "killed"), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    metrics = tmp_path / "killed" / "metrics.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(json.loads(metrics.read_text())) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(json.loads(metrics.read_text()))
    assert 2 <= done < 6 and not (tmp_path / "killed" / "model.npz").exists()

    resumed = subprocess.run(
        _cli("train", "--resume", str(tmp_path / "killed"), "--no-plots", "--data-dir", str(shared_data)),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {tmp_path / 'killed'} after epoch {done} of 6" in resumed.stdout
    with np.load(tmp_path / "whole" / "model.npz") as a, np.load(tmp_path / "killed" / "model.npz") as b:
        for key in a.files:
            if key != "__model__":
                np.testing.assert_array_equal(a[key], b[key])
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    again = json.loads(metrics.read_text())
    assert [r["val_loss"] for r in whole] == [r["val_loss"] for r in again]


def test_train_py_and_module_entry_points(tmp_path, shared_data):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--epochs",
            "2",
            "--output-dir",
            str(tmp_path),
            "--name",
            "classic",
            "--data-dir",
            str(shared_data),
            "--no-download",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**_env(), "DISPLAY": ""},
    )
    assert out.returncode == 0, out.stderr
    assert "epoch 1/2" in out.stdout and "final test accuracy" in out.stdout
    assert (tmp_path / "classic" / "accuracy.png").exists()
    config = json.loads((tmp_path / "classic" / "config.json").read_text())
    assert config["batch_size"] == 0 and config["layers"] == [784, 128, 64, 10] and config["optimizer"] == "sgd"
    help_text = subprocess.run(_cli("--help"), capture_output=True, text=True, env=_env()).stdout
    assert "train" in help_text and "evaluate" in help_text and "download" in help_text


def test_quiet_prints_only_the_result(tmp_path, shared_data, capsys):
    code, out, err = run_cli(
        [
            "train",
            *QUICK,
            "--quiet",
            "--no-plots",
            "--data-dir",
            str(shared_data),
            "--output-dir",
            str(tmp_path),
            "--name",
            "q",
        ],
        capsys,
    )
    assert code == 0, err
    assert not [line for line in out.splitlines() if line.startswith(("epoch", "training"))]
    assert out.startswith("final test accuracy: ") and not (tmp_path / "q" / "loss.png").exists()


def test_progress_bar_reports_batches_loss_and_accuracy(small_training_args, capsys):
    from scratchnn.training import Trainer

    trainer = Trainer(*small_training_args, log=None, progress=True)
    trainer.fit()
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "batch" in err and "loss=" in err and "acc=" in err


@pytest.fixture
def small_training_args(mnist):
    import dataclasses

    small = dataclasses.replace(
        mnist,
        train=dataclasses.replace(mnist.train, images=mnist.train.images[:1000], labels=mnist.train.labels[:1000]),
    )
    return TrainConfig(layers=(784, 16, 10), epochs=1, batch_size=100, optimizer="adam", lr=1e-3), small


def test_tests_py_fails_without_the_success_line_when_nothing_passes():
    # -k that matches no test: pytest exits 5, and tests.py must not claim success.
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests.py"), "-k", "no_test_has_this_name"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert out.returncode != 0
    assert "All tests passed!" not in out.stdout


def test_arch_flag_trains_a_cnn_and_evaluate_reads_it_back(tmp_path, shared_data, capsys):
    # Stride 4: 7x7 maps, so one epoch on all of MNIST takes a few seconds.
    code, out, err = run_cli(
        [
            "train",
            "--arch",
            "conv4k4s4 relu avgpool1 flatten dense10",
            "--epochs",
            "1",
            "--batch-size",
            "256",
            "--optimizer",
            "adam",
            "--lr",
            "0.003",
            "--no-plots",
            "--data-dir",
            str(shared_data),
            "--no-download",
            "--output-dir",
            str(tmp_path),
            "--name",
            "cnn",
        ],
        capsys,
    )
    assert code == 0, err
    assert "Conv2D(1, 4, kernel=4, stride=4" in out
    config = json.loads((tmp_path / "cnn" / "config.json").read_text())
    assert config["architecture"][0] == {"type": "Conv2D", "filters": 4, "kernel": 4, "stride": 4, "padding": 0}
    assert float(out.split("final test accuracy: ")[1].split("%")[0]) > 80
    code, out, err = run_cli(
        ["evaluate", str(tmp_path / "cnn" / "model.npz"), "--data-dir", str(shared_data), "--no-download"], capsys
    )
    assert code == 0 and "mnist test accuracy" in out, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--arch", "conv32k3 relu dense10"], "layer 3 (dense10) on input (32, 26, 26): Dense needs a vector"),
        (["--arch", "conv32k3 wobble"], "--arch: cannot read 'wobble'"),
        (["--arch", "flatten dense10", "--layers", "784,10"], "either --layers (an MLP) or --arch"),
        (["--layers", "784,100000000,10"], "the model is too large for memory"),
    ],
)
def test_bad_architectures_are_one_line_errors_before_training(args, message, tmp_path, shared_data, capsys):
    code, out, err = run_cli(
        ["train", *args, "--data-dir", str(shared_data), "--no-download", "--output-dir", str(tmp_path)], capsys
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert err.count("\n") == 1 and not list(tmp_path.iterdir())  # nothing written


def test_layers_flag_replaces_a_presets_architecture():
    from scratchnn.training.presets import PRESETS

    preset = next((name for name, s in PRESETS.items() if s.get("architecture")), None)
    if preset is None:
        pytest.skip("not applicable: no preset has an architecture yet")
    config = config_from_args(build_parser().parse_args(["train", "--preset", preset, "--layers", "784,20,10"]))
    assert config.architecture is None and config.layers == (784, 20, 10)


# -- run folders and resuming --------------------------------------------------


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--preset", "mlp"], "--preset"),
        (["--name", "other"], "--name"),
        (["--output-dir", "elsewhere"], "--output-dir"),
        (["--overwrite"], "--overwrite"),
    ],
)
def test_resume_refuses_options_it_would_ignore(tmp_path, capsys, extra, named):
    code, _, err = run_cli(["train", "--resume", str(tmp_path), *extra], capsys)
    assert code == 2 and f"only --epochs and --device may change, not {named}" in err


def test_resume_refuses_fewer_epochs_and_records_more_in_config_json(tmp_path, shared_data, capsys):
    args = ["--data-dir", str(shared_data), "--no-download", "--quiet"]
    code, _, err = run_cli(
        ["train", *QUICK, "--epochs", "1", "--output-dir", str(tmp_path), "--name", "r", *args], capsys
    )
    assert code == 0, err
    (tmp_path / "r" / ".metrics.json.k1ll3d.tmp").write_text("left by a killed writer")
    code, _, err = run_cli(["train", "--resume", str(tmp_path / "r"), "--epochs", "2", *args], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["epochs"] == 2
    assert len(json.loads((tmp_path / "r" / "metrics.json").read_text())) == 2
    assert not list((tmp_path / "r").glob(".*.tmp"))
    code, _, err = run_cli(["train", "--resume", str(tmp_path / "r"), "--epochs", "1", *args], capsys)
    assert code == 2 and "--epochs 1 is fewer than the 2 epochs this run has already trained" in err


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path, shared_data, capsys):
    run_dir = tmp_path / "early"
    run_dir.mkdir()
    config = config_from_args(build_parser().parse_args(["train", *QUICK, "--epochs", "1"]))
    (run_dir / "config.json").write_text(json.dumps(config.to_dict()))
    code, out, err = run_cli(
        ["train", "--resume", str(run_dir), "--data-dir", str(shared_data), "--no-download", "--no-plots"], capsys
    )
    assert code == 0, err
    assert "has no checkpoint yet: starting it from epoch 1" in out and (run_dir / "model.npz").exists()


def test_a_second_training_of_the_same_folder_is_refused(tmp_path, capsys):
    from scratchnn.training.run_folder import open_new_run

    with open_new_run(tmp_path, "busy"):
        code, _, err = run_cli(["train", "--output-dir", str(tmp_path), "--name", "busy", "--overwrite"], capsys)
    assert code == 2 and f"run folder {tmp_path / 'busy'} is in use by process {os.getpid()}" in err


def _no_data(*args, **kwargs):
    raise AssertionError("the data must not be loaded when the run folder cannot be written")


@pytest.mark.parametrize("where", ["a file as --output-dir", "a name too long"])
def test_os_errors_are_one_line_before_any_data_is_loaded(tmp_path, capsys, monkeypatch, where):
    monkeypatch.setattr("scratchnn.cli._load", _no_data)
    (tmp_path / "file").write_text("x")
    args = (
        ["--output-dir", str(tmp_path / "file"), "--name", "r"]
        if where.startswith("a file")
        else ["--output-dir", str(tmp_path), "--name", "n" * 300]
    )
    code, _, err = run_cli(["train", *args], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("scratchnn train: error: ")
    assert "Traceback" not in err


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr("scratchnn.training.run_folder.atomic_write_text", full)  # writes config.json
    monkeypatch.setattr("scratchnn.cli._load", _no_data)
    code, _, err = run_cli(["train", "--output-dir", str(tmp_path), "--name", "r"], capsys)
    assert code == 2 and err == f"scratchnn train: error: {tmp_path / 'r' / 'config.json'}: No space left on device\n"


def test_version():
    import scratchnn

    done = subprocess.run(_cli("--version"), capture_output=True, text=True, env=_env())
    assert done.returncode == 0 and done.stdout == f"scratchnn {scratchnn.__version__}\n"
    # One version, in one place: pyproject.toml reads it from the package.
    pyproject = (ROOT / "pyproject.toml").read_text().splitlines()
    assert 'dynamic = ["version"]' in pyproject and 'version = { attr = "scratchnn.__version__" }' in pyproject
    assert not [line for line in pyproject if line.startswith('version = "')]
    assert importlib.metadata.version("scratchnn") == scratchnn.__version__


def test_every_train_flag_says_what_it_does_its_default_and_the_presets_values():
    from scratchnn.training.presets import PRESETS, preset_settings

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    for action in train._actions:
        if action.dest == "help":
            continue
        assert action.help and "(default: " in action.help, action.option_strings
        assert not action.help.startswith("("), action.option_strings  # a description comes first
    helps = {action.dest: action.help for action in train._actions}
    default = TrainConfig()
    for preset in PRESETS:
        for field, value in preset_settings(preset).items():
            if value != getattr(default, field):
                assert preset in helps[field], (preset, field)
    assert "(default: 0.3; cnn, mlp-large: 0.001; mlp: 0.003)" in helps["lr"]
    assert "mlp, mlp-large on fashion-mnist: on" in helps["hflip"]


def test_train_help_ends_with_examples_that_parse(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    examples = text.split("examples:\n")[1].strip().splitlines()
    assert 2 <= len(examples) <= 3
    for line in examples:
        args = line.split("#")[0].split()
        assert args[:2] == ["scratchnn", "train"]
        build_parser().parse_args(args[1:])


def test_default_run_folders_never_reuse_an_earlier_run(tmp_path, shared_data, capsys):
    args = [
        "train",
        "--epochs",
        "1",
        "--layers",
        "784,16,10",
        "--no-plots",
        "--quiet",
        "--no-download",
        "--data-dir",
        str(shared_data),
        "--output-dir",
        str(tmp_path),
    ]
    assert run_cli(args, capsys)[0] == 0
    first = (tmp_path / "classic" / "model.npz").read_bytes()
    assert run_cli([*args, "--seed", "1"], capsys)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["classic", "classic-2"]
    assert (tmp_path / "classic" / "model.npz").read_bytes() == first
    from scratchnn.cli import _free_run_name

    fashion = build_parser().parse_args(["train", "--preset", "mlp", "--dataset", "fashion-mnist"])
    assert _free_run_name(tmp_path, fashion, config_from_args(fashion)) == "mlp-fashion-mnist"
