"""The ``scratchnn`` command: train, evaluate, predict, download, export and import ONNX, serve.

Every error a user can cause ends in one line on stderr that names the input
and what was expected, and exit status 2 (argparse's own convention for bad
flags); never a traceback.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import ScratchnnError

DATASETS = ("mnist", "fashion-mnist")


def _layers(text):
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes like 784,128,64,10, got {text!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected at least two positive layer sizes, got {text!r}")
    return sizes


def int_at_least(minimum):
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


def setting(name):
    """An argparse type for the training setting ``name``: parsed as its table
    entry in :mod:`scratchnn.parameters` says and checked there, so the flag and
    the configuration refuse the same values with the same message."""
    from .parameters import CONSTRAINTS, check

    kind = CONSTRAINTS[name][1].kind

    def parse(text):
        from .errors import ConfigError

        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}"
            ) from None
        try:
            return check(name, value)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def _dataset_name(text):
    if text not in DATASETS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(DATASETS)}, got {text!r}")
    return text


# One line for each training flag whose add_argument line gives none.
DESCRIPTIONS = {
    "dataset": "which images to train on",
    "epochs": "passes over the training set",
    "optimizer": "update rule",
    "batch_norm": "batch normalisation after each hidden Dense layer",
    "monitor": "the validation figure early stopping and the best epoch follow",
    "seed": "seed of the weights, the shuffling, the validation split and the distortions",
    "dtype": "floating-point type of the weights and the arithmetic",
    "device": "where to compute: cpu (NumPy) or gpu (CuPy on an NVIDIA GPU; needs scratchnn[gpu])",
    "nesterov": "Nesterov momentum (SGD)",
}

# What a flag's absence means, where its default value alone would not say it.
DEFAULT_TEXTS = {"resume": "a new run", "architecture": "the MLP of --layers"}

TRAIN_EXAMPLES = """examples:
  scratchnn train                  # the classic run: 120 full-batch epochs into runs/classic
  scratchnn train --preset mlp --seed 1 --name mlp-seed1
  scratchnn train --preset mlp --dataset fashion-mnist --epochs 20
"""


def _show_defaults(parser, config_flags):
    """Complete each flag's help: a description where it has none, its default, and each preset's value.

    The values are read from TrainConfig and the presets, so the help cannot drift from them.
    """
    import re

    from .training.config import TrainConfig
    from .training.presets import PRESETS, preset_settings

    defaults = TrainConfig()
    for action in parser._actions:
        if action.dest in ("help", "version"):
            continue
        text = action.help or DESCRIPTIONS.get(action.dest, "")
        if action.dest in config_flags and hasattr(defaults, action.dest):
            default = getattr(defaults, action.dest)
            by_value = {}  # a preset's value -> the presets (and datasets) that use it
            for preset in sorted(PRESETS):
                for dataset in ("mnist", "fashion-mnist"):
                    value = preset_settings(preset, dataset).get(action.dest, default)
                    own = preset_settings(preset, "mnist").get(action.dest, default)
                    if value != default and (dataset == "mnist" or value != own):
                        by_value.setdefault(_plain(value), {}).setdefault(dataset, []).append(preset)
            text = re.sub(r"\s*\(default: [^)]*\)", "", text)
            text += (
                f" (default: {DEFAULT_TEXTS.get(action.dest) or _plain(default)}"
                + "".join(f"; {_where(datasets)}: {value}" for value, datasets in by_value.items())
                + ")"
            )
        elif "default" not in text and action.option_strings:
            default = DEFAULT_TEXTS.get(action.dest, action.default)
            text += f" (default: {'off' if default in (None, False) else _plain(default)})"
        action.help = text.strip()


def _where(datasets):
    """{"mnist": ["mlp"], "fashion-mnist": ["mlp", "mlp-large"]} -> "mlp; mlp, mlp-large on fashion-mnist"."""
    return "; ".join(
        ", ".join(presets) + ("" if dataset == "mnist" else f" on {dataset}") for dataset, presets in datasets.items()
    )


def _plain(value):
    """A setting as a user types it: 784,128,64,10; on/off; 0.003."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _port(text):
    port = int_at_least(0)(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {port}")
    return port


def _add_data_flags(parser):
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="folder holding the dataset files (default: $SCRATCHNN_DATA, the cache, a system copy, else download)",
    )
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")


def build_parser():
    from . import __version__
    from .nn.optimizers import OPTIMIZERS
    from .training.presets import PRESETS
    from .training.schedules import SCHEDULES

    parser = argparse.ArgumentParser(prog="scratchnn", description="Neural networks from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"scratchnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="train a network and save model, metrics and plots",
        description="Train a network. Flags override the chosen preset.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--preset", choices=sorted(PRESETS), help="recipe to start from (default: classic, full-batch gradient descent)"
    )
    train.add_argument("--dataset", choices=DATASETS)
    _add_data_flags(train)
    train.add_argument("--layers", type=_layers, help="MLP layer sizes, e.g. 784,128,64,10")
    train.add_argument(
        "--arch",
        dest="architecture",
        metavar="LAYERS",
        help='any network as words, e.g. "conv32k3 relu maxpool2 flatten dense10" (see README)',
    )
    train.add_argument("--epochs", type=setting("epochs"))
    train.add_argument("--batch-size", type=setting("batch_size"), help="0 = the whole training set (full batch)")
    train.add_argument("--optimizer", choices=sorted(OPTIMIZERS))
    train.add_argument("--lr", type=setting("lr"), help="learning rate")
    train.add_argument("--momentum", type=setting("momentum"), help="SGD momentum")
    train.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum (SGD)")
    train.add_argument("--weight-decay", type=setting("weight_decay"), help="L2 (AdamW: decoupled) decay on weights")
    train.add_argument("--dropout", type=setting("dropout"), help="drop probability after each hidden layer")
    train.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule")
    train.add_argument("--warmup-epochs", type=setting("warmup_epochs"), help="linear learning-rate warm-up")
    train.add_argument("--step-size", type=setting("step_size"), help="epochs between step decays")
    train.add_argument("--gamma", type=setting("gamma"), help="step decay factor")
    train.add_argument("--min-lr", type=setting("min_lr"), help="final rate of cosine annealing")
    train.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random shifts/rotations/scales of training images",
    )
    train.add_argument("--max-shift", type=setting("max_shift"), help="augmentation: pixels")
    train.add_argument("--max-rotation", type=setting("max_rotation"), help="augmentation: degrees")
    train.add_argument("--max-scale", type=setting("max_scale"), help="augmentation: zoom fraction")
    train.add_argument(
        "--elastic-alpha", type=setting("elastic_alpha"), help="augmentation: elastic strength (0 = off)"
    )
    train.add_argument("--elastic-sigma", type=setting("elastic_sigma"), help="augmentation: elastic smoothness")
    train.add_argument(
        "--hflip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="augmentation: mirror half the images left-right (for clothes, not digits)",
    )
    train.add_argument(
        "--validation-size", type=setting("validation_size"), help="training images held out for validation"
    )
    train.add_argument(
        "--early-stopping",
        type=setting("early_stopping"),
        metavar="PATIENCE",
        help="stop after this many epochs without validation improvement (0 = off)",
    )
    train.add_argument("--monitor", choices=("val_loss", "val_accuracy"))
    train.add_argument(
        "--test-every-epoch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="report test metrics every epoch, for the plots (default: yes); the test set never steers training",
    )
    train.add_argument("--seed", type=setting("seed"))
    train.add_argument("--dtype", choices=("float32", "float64"))
    train.add_argument("--device", choices=("cpu", "gpu"))
    train.add_argument("--output-dir", type=Path, help="where run folders go (default: runs)")
    train.add_argument(
        "--name",
        help="run folder name (default: the preset, plus the dataset if not mnist, "
        "numbered from the second run on: classic, classic-2, ...)",
    )
    train.add_argument("--overwrite", action="store_true", help="reuse an existing run folder of that name")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run")
    train.add_argument("--show", action="store_true", help="open the plots when done (needs a display)")
    train.add_argument("--no-plots", action="store_true", help="do not write loss.png and accuracy.png")
    train.add_argument("--quiet", action="store_true", help="print only the final result")

    _show_defaults(train, CONFIG_FLAGS)

    ev = sub.add_parser("evaluate", help="print a saved model's test accuracy and loss")
    ev.add_argument("model", type=Path, help="a model.npz written by scratchnn train")
    ev.add_argument("--dataset", choices=DATASETS, help="default: the dataset the model was trained on")
    ev.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="also print per-class precision/recall/F1 and write them (CSV, JSON), the confusion "
        "matrix, the most confident mistakes, the training curves, the first layer's weights "
        "and report.html into DIR",
    )
    _add_data_flags(ev)
    _add_device_flag(ev)

    pr = sub.add_parser(
        "predict",
        help="classify your own pictures: image files or folders of them",
        description="Classify pictures of any size and format Pillow reads. Each is made to "
        "look like the model's dataset first (cropped, scaled, centred, ink white "
        "on black). Exit status 0 when every picture was classified, 2 when any "
        "could not be (each gets one line; the others are still classified).",
    )
    pr.add_argument("model", type=Path, help="a model.npz written by scratchnn train")
    pr.add_argument(
        "paths",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="an image file, or a folder (searched recursively for image files)",
    )
    pr.add_argument(
        "--ink",
        choices=("auto", "dark", "light"),
        default="auto",
        help="ink darker or lighter than the paper (default: auto, detected per picture)",
    )
    pr.add_argument("--top", type=int_at_least(1), default=3, help="how many likeliest classes to show (default: 3)")
    pr.add_argument("--json", action="store_true", help="one JSON record per picture (JSON Lines) on stdout")
    _add_device_flag(pr)
    pr.add_argument(
        "--save-preprocessed", type=Path, metavar="DIR", help="write the 28x28 images the network saw into DIR, as PNG"
    )

    ex = sub.add_parser("export", help="write a saved model as an ONNX file (needs scratchnn[onnx])")
    ex.add_argument("model", type=Path, help="a model.npz written by scratchnn train")
    ex.add_argument("output", type=Path, help="the .onnx file to write")
    ex.add_argument(
        "--probabilities",
        action="store_true",
        help="end the graph with Softmax, so it outputs probabilities instead of logits",
    )

    im = sub.add_parser("import", help="read an ONNX model into a scratchnn model file (needs scratchnn[onnx])")
    im.add_argument(
        "onnx_file",
        type=Path,
        help="an .onnx file of Gemm/MatMul+Add, Relu, BatchNormalization, "
        "Dropout, Conv, MaxPool, AveragePool, Flatten and a final Softmax",
    )
    im.add_argument("output", type=Path, help="the model .npz to write")

    dl = sub.add_parser(
        "download",
        help="download and verify datasets into the cache",
        description="Download datasets, check every file's SHA-256, and say where they went.",
    )
    dl.add_argument(
        "datasets",
        nargs="*",
        type=_dataset_name,
        metavar="DATASET",
        help=f"{' and/or '.join(DATASETS)} (default: mnist)",
    )
    dl.add_argument("--dir", type=Path, help="folder to download into (default: the user cache)")
    dl.add_argument(
        "--if-missing",
        action="store_true",
        help="skip a dataset already found ($SCRATCHNN_DATA, the user cache or a system copy)",
    )
    sv = sub.add_parser(
        "serve",
        help="draw digits in the browser and watch the network think",
        description="Start a local web page where you draw a digit and see the model's answer, "
        "its hidden layers and a saliency map; also a JSON API (see README).",
    )
    sv.add_argument("model", type=Path, help="a model.npz written by scratchnn train")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 = any free port)")
    return parser


CONFIG_FLAGS = (
    "dataset",
    "layers",
    "architecture",
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "dropout",
    "batch_norm",
    "schedule",
    "warmup_epochs",
    "step_size",
    "gamma",
    "min_lr",
    "augment",
    "max_shift",
    "max_rotation",
    "max_scale",
    "elastic_alpha",
    "elastic_sigma",
    "hflip",
    "validation_size",
    "early_stopping",
    "monitor",
    "test_every_epoch",
    "seed",
    "dtype",
    "device",
)


def config_from_args(args):
    """The preset's settings with every flag the user gave laid over them."""
    from .classifier import make_config
    from .errors import ConfigError

    settings = {name: getattr(args, name) for name in CONFIG_FLAGS if getattr(args, name) is not None}
    if args.layers is not None and args.architecture is not None:
        raise ConfigError("give either --layers (an MLP) or --arch, not both")
    if args.layers is not None:
        settings["architecture"] = None  # --layers replaces a preset's architecture
    return make_config(args.preset or "classic", **settings)


def _add_device_flag(parser):
    parser.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default="cpu",
        help="where the network computes: cpu (NumPy) or gpu (CuPy; needs scratchnn[gpu]) (default: cpu)",
    )


def _load(dataset, args, quiet=False):
    from .data import load_dataset

    return load_dataset(dataset, data_dir=args.data_dir, download=not args.no_download, progress=not quiet)


def _new_run(args, config):
    """Lock and prepare the run folder (before loading any data: a folder that
    cannot be written fails at once), and write ``config.json`` into it."""
    from .training.run_folder import open_new_run

    output_dir = args.output_dir or Path("runs")
    return open_new_run(output_dir, args.name or _free_run_name(output_dir, args, config), args.overwrite, config)


def _free_run_name(output_dir, args, config):
    """The default run name: the preset (and the dataset, if not MNIST), numbered from the second run on.

    ``runs/classic``, then ``runs/classic-2``, ...: a new run never lands in an earlier one's folder.
    """
    base = args.preset or "classic"
    if config.dataset != "mnist":
        base += f"-{config.dataset}"
    number = 1
    while (output_dir / (name := base if number == 1 else f"{base}-{number}")).exists():
        number += 1
    return name


def _resume_run(args):
    """Lock the run folder of ``--resume`` and check that nothing else was asked for."""
    from .training.run_folder import open_existing_run

    changed = [name for name in CONFIG_FLAGS if name not in ("epochs", "device") and getattr(args, name) is not None]
    changed += [name for name in ("preset", "name", "output_dir") if getattr(args, name) is not None]
    changed += ["overwrite"] if args.overwrite else []
    if changed:
        flags = ", ".join(sorted("--" + name.replace("_", "-") for name in changed))
        raise ScratchnnError(
            f"--resume continues the run's saved settings in its own folder; only --epochs and --device may change, "
            f"not {flags}"
        )
    return open_existing_run(args.resume)


def cmd_train(args):
    if args.resume:
        config, run = None, _resume_run(args)
    else:
        from .data.datasets import CLASS_NAMES, IMAGE_SHAPE
        from .training.trainer import check_model_fits

        config = config_from_args(args)
        # The network and the device are checked before anything is written or loaded.
        check_model_fits(config, IMAGE_SHAPE, len(CLASS_NAMES[config.dataset]), config.dataset)
        from .nn.backend import array_module

        array_module(config.device)
        run = _new_run(args, config)
    with run:  # the folder stays locked until the run ends, however it ends
        return _train_in(run, config, args)


def _train_in(run, config, args):
    """Train into the locked ``run`` folder: a new run of ``config``, or ``--resume``."""
    from .atomic import atomic_write_text
    from .classifier import Classifier
    from .training.checkpoint import load_checkpoint
    from .training.trainer import Trainer

    log = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    progress = not args.quiet and sys.stderr.isatty()

    run_dir = run.path
    if args.resume and run.checkpoint.exists():
        state, _ = load_checkpoint(run.checkpoint)
        dataset = _load(state["config"]["dataset"], args, args.quiet)
        trainer = Trainer.resume(run_dir, dataset, log, progress, epochs=args.epochs, device=args.device)
        config = trainer.config
        if config.to_dict() != state["config"]:  # --epochs changed it
            atomic_write_text(run.config_file, json.dumps(config.to_dict(), indent=1) + "\n")
        how = " (it had stopped early)" if trainer.stopped_early else ""
        log(f"resuming {run_dir} after epoch {len(trainer.history)} of {config.epochs}{how}")
    else:
        if args.resume:  # killed before its first checkpoint: start it again from its config.json
            config = _saved_config(run.config_file, args.epochs, args.device)
            atomic_write_text(run.config_file, json.dumps(config.to_dict(), indent=1) + "\n")
            log(f"{run_dir} has no checkpoint yet: starting it from epoch 1 with its config.json")
        dataset = _load(config.dataset, args, args.quiet)
        trainer = Trainer(config, dataset, run_dir, log, progress)
        log(
            f"training {trainer.model} on {dataset.name} ({len(trainer.sampler.indices)} images, "
            f"{len(trainer.sampler)} batches/epoch) -> {run_dir}"
        )

    result = trainer.fit()
    classifier = Classifier.from_training(trainer, result)
    classifier.save(run_dir / "model.npz")
    test_loss, test_acc = classifier.metadata["test_loss"], classifier.metadata["test_accuracy"]
    print(
        f"final test accuracy: {test_acc:.2%}  (test loss {test_loss:.4f}, "
        f"{len(result.history)} epochs, {sum(r['train_seconds'] for r in result.history):.1f}s training)"
    )
    print(f"saved {run_dir / 'model.npz'}")
    if not args.no_plots:
        from .plots import display_available, save_plots, show_plots

        paths = save_plots(
            result.history, run_dir, f"{run_dir.name}: {dataset.name}, final test accuracy {test_acc:.2%}"
        )
        print(f"saved {', '.join(str(p) for p in paths)}")
        if args.show:
            if display_available():
                show_plots(paths)
            else:
                print("no display found: plots saved but not shown", file=sys.stderr)
    return 0


def _saved_config(path, epochs=None, device=None):
    from .errors import ConfigError
    from .training.config import TrainConfig

    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable run configuration ({exc})") from None
    if epochs is not None and isinstance(settings, dict):
        settings["epochs"] = epochs
    if device is not None and isinstance(settings, dict):
        settings["device"] = device
    return TrainConfig.from_dict(settings)


def cmd_evaluate(args):
    from .classifier import load_model
    from .errors import ModelFileError

    classifier = load_model(args.model, args.device)
    name = args.dataset or classifier.dataset
    dataset = _load(name, args)
    try:
        if args.report:
            from .report import write_report

            result, written = write_report(classifier, dataset, args.report, model_path=args.model)
        else:
            result = classifier.evaluate(dataset)
    except ModelFileError as exc:
        raise ModelFileError(f"{args.model}: {exc}") from None
    loss, acc = result.loss, result.accuracy
    correct = round(acc * len(dataset.test))
    # A model evaluated on another dataset than it learned says so in the same line.
    other = f", trained on {classifier.dataset}, not {name}" if classifier.dataset not in (None, name) else ""
    print(
        f"{name} test accuracy {acc:.2%} ({correct}/{len(dataset.test)}), test loss {loss:.4f}  ({args.model}{other})"
    )
    if args.report:
        from .report import format_class_table

        print("\n".join(format_class_table(result)))
        print(f"saved {', '.join(p.name for p in written.values())} in {args.report}")
        print(f"open {written['html']}")
    return 0


def cmd_download(args):
    from .data import download_dataset, find_dataset_dir

    failed = []
    for name in args.datasets or ["mnist"]:
        found = find_dataset_dir(name) if args.if_missing else None
        if found is not None:
            print(f"{name}: found in {found}; nothing to download")
            continue
        try:
            path = download_dataset(name, dest_dir=args.dir)
        except ScratchnnError as error:
            print(f"scratchnn download: error: {error}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"{name}: verified files in {path}")
    return 2 if failed else 0


def _image_files(paths):
    """Files named on the command line, and the image files inside named folders, in order."""
    from PIL import Image

    extensions = set(Image.registered_extensions())
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in extensions
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files += found or [path]  # an empty folder is reported as not an image
        else:
            files.append(path)
    return files


def _save_preprocessed(records, out_dir):
    """Write each picture's 28x28 input as ``<name>.png`` (numbered where names repeat)."""
    import numpy as np
    from PIL import Image

    from .atomic import atomic_open

    taken = set()
    for record in records:
        if not record.ok:
            continue
        stem = Path(record.source).stem or "image"
        name, n = f"{stem}.png", 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}.png"
        taken.add(name)
        pixels = np.round(record.image * 255).astype(np.uint8)
        with atomic_open(out_dir / name, "wb") as handle:
            Image.fromarray(pixels, "L").save(handle, "PNG")


def _describe(record):
    def label(c, name, p):
        return f"{name} {p:.1%}" if name == str(c) else f"{name} (class {c}) {p:.1%}"

    top = ", ".join(label(*entry) for entry in record.top)
    return f"{record.source}: {label(record.label, record.name, record.probability)}  top {len(record.top)}: {top}"


def cmd_predict(args):
    from .classifier import load_model

    classifier = load_model(args.model, args.device)
    files = _image_files(args.paths)
    records = classifier.predict_images(files, ink=args.ink, top=args.top, errors="keep")
    for record in records:
        if not record.ok:
            print(f"scratchnn predict: error: {record.error}", file=sys.stderr)
        if args.json:
            print(json.dumps(record.to_dict()))
        elif record.ok:
            print(_describe(record))
    if args.save_preprocessed:
        _save_preprocessed(records, args.save_preprocessed)
    failed = sum(not r.ok for r in records)
    if failed:
        print(f"scratchnn predict: {failed} of {len(records)} pictures could not be classified", file=sys.stderr)
    return 2 if failed else 0


def cmd_export(args):
    from .interop.onnx import export_onnx
    from .nn.serialize import load_model

    model, meta = load_model(args.model)
    proto = export_onnx(model, args.output, args.probabilities, meta)
    print(
        f"wrote {args.output}: {model} as ONNX opset {proto.opset_import[0].version}, "
        f"output {proto.graph.output[0].name}"
    )
    return 0


def cmd_import(args):
    from .interop.onnx import import_onnx
    from .nn.serialize import save_model

    model, meta = import_onnx(args.onnx_file)
    save_model(args.output, model, {**meta, "imported_from": str(args.onnx_file)})
    dropped = (
        f" (without the final {meta['final_softmax']}: scratchnn models output logits, whose "
        f"{meta['final_softmax'].lower()} is the ONNX model's output)"
        if meta["final_softmax"]
        else ""
    )
    print(f"read {args.onnx_file}: {model}{dropped}")
    print(f"saved {args.output}")
    return 0


def cmd_serve(args):
    try:
        from .serve import serve
    except ImportError as exc:
        raise ScratchnnError(
            f"serving needs the web framework ({exc.name} is not installed): pip install 'scratchnn[serve]'"
        ) from None
    from .classifier import load_model

    serve(load_model(args.model), args.host, args.port, name=str(args.model))
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "download": cmd_download,
    "export": cmd_export,
    "import": cmd_import,
    "serve": cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ScratchnnError as exc:
        print(f"scratchnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, no permission, a file where a folder should be, ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"scratchnn {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"scratchnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
