"""scratchnn on a GPU (CuPy) against PyTorch on the same GPU: seconds per epoch and kernels per step.

Needs an NVIDIA GPU with CuPy and PyTorch (the device tool's machines have both).
For each network, in interleaved rounds on the same GPU:

* scratchnn through its real training path (``Trainer`` with ``device="gpu"``:
  uint8 images copied to the GPU once, each batch gathered and scaled there),
  Adam 1e-3, batch 128, no augmentation, with the fused kernels and without;
* PyTorch, the same architecture (the twin ``bench_training.torch_network``
  builds), float32 images already on the GPU, ``randperm`` each epoch.

Then the kernels one training step launches (counted with PyTorch's profiler,
which sees every CUDA kernel of the process, CuPy's included), and the preset
recipes' own epochs (with augmentation) on the GPU. Prints a table and writes JSON.

    python benchmarks/bench_gpu.py --data-dir DIR [--rounds 2] [--epochs 2] [--out results/gpu.json]
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_training import ADAM, BATCH_SIZE, REFERENCE_CNN, SEED, torch_network  # noqa: E402

NETWORKS = {
    "mlp": "flatten dense128 relu dense64 relu dense10",
    "mlp-large": "flatten dense1024 bn relu dropout0.2 dense1024 bn relu dropout0.2 dense10",
    "cnn-reference": REFERENCE_CNN,
    "cnn-preset": "conv32k3p1 bn relu maxpool2 conv64k3p1 bn relu maxpool2 conv128k3p1 bn relu maxpool2 "
    "flatten dense256 relu dropout0.4 dense10",
}
PRESETS_TIMED = ("mlp", "mlp-large", "cnn")
PROFILED_STEPS = 5


def load(data_dir, dataset="mnist"):
    from scratchnn.data import load_dataset

    return load_dataset(dataset, data_dir=data_dir, download=False, progress=False)


def scratchnn_epochs(dataset, architecture, epochs, fused, **settings):
    """Seconds of each training epoch through Trainer.fit on the GPU (the first one warms up)."""
    from scratchnn.nn import backend
    from scratchnn.training import TrainConfig, Trainer

    backend.fused_kernels(fused)
    options = dict(
        architecture=architecture,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        optimizer="adam",
        lr=ADAM["lr"],
        validation_size=0,
        test_every_epoch=False,
        seed=SEED,
        device="gpu",
    )
    options.update(settings)
    trainer = Trainer(TrainConfig(**options), dataset, log=None)
    history = trainer.fit().history
    backend.fused_kernels(True)
    return [row["train_seconds"] for row in history], history[-1].get("test_accuracy")


def torch_epochs(torch, dataset, architecture, epochs):
    """Seconds of each training epoch of the PyTorch twin on the GPU, data already there."""
    device = torch.device("cuda")
    torch.manual_seed(SEED)
    x = torch.from_numpy(dataset.train.features(np.float32).reshape(-1, 1, 28, 28)).to(device)
    y = torch.from_numpy(dataset.train.labels.astype(np.int64)).to(device)
    model = torch_network(torch.nn, architecture).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=ADAM["lr"], betas=ADAM["betas"], eps=ADAM["eps"])
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds = []
    model.train()
    for _ in range(epochs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        order = torch.randperm(len(x), device=device)
        for first in range(0, len(x), BATCH_SIZE):
            rows = order[first : first + BATCH_SIZE]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[rows]), y[rows]).backward()
            opt.step()
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds, model, opt, loss_fn, x, y


def count_kernels(torch, run_steps):
    """CUDA kernels (and memory copies/sets) launched per call of ``run_steps(PROFILED_STEPS)``, per step."""
    from torch.profiler import ProfilerActivity, profile

    run_steps(2)  # warm: compiled kernels, memory pools
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run_steps(PROFILED_STEPS)
        torch.cuda.synchronize()
    kinds = {"kernel": 0, "memcpy/memset": 0}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            name = event.name.lower()
            kinds["memcpy/memset" if "memcpy" in name or "memset" in name else "kernel"] += 1
    return {kind: count / PROFILED_STEPS for kind, count in kinds.items()}


def scratchnn_step_runner(dataset, architecture, fused):
    """A function running n training steps of scratchnn on the GPU, as Trainer does (batch on the GPU)."""
    import cupy

    from scratchnn.nn import SoftmaxCrossEntropy, backend, build_model, parse_architecture
    from scratchnn.nn.optimizers import make_optimizer
    from scratchnn.training.batches import BatchSampler

    model = build_model(parse_architecture(architecture), (1, 28, 28), SEED, np.float32).to("gpu")
    loss_fn, opt = SoftmaxCrossEntropy(cupy), make_optimizer("adam", ADAM["lr"])
    opt.xp = cupy
    sampler = BatchSampler(
        dataset.train.images, dataset.train.labels, np.arange(len(dataset.train)), BATCH_SIZE, xp=cupy
    )
    rng = np.random.default_rng(0)

    def run(n):
        backend.fused_kernels(fused)
        for i, (x, y) in enumerate(sampler.epoch(rng)):
            if i == n:
                break
            logits = model.forward(x, training=True)
            loss_fn.forward(logits, y)
            int(cupy.count_nonzero(logits.argmax(axis=1) == y))  # as the trainer counts
            model.backward(loss_fn.backward())
            opt.step(model.params, model.grads, model.n_decayed)
        backend.fused_kernels(True)

    return run


def torch_step_runner(torch, model, opt, loss_fn, x, y):
    def run(n):
        order = torch.randperm(len(x), device=x.device)
        for i in range(n):
            rows = order[i * BATCH_SIZE : (i + 1) * BATCH_SIZE]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[rows]), y[rows]).backward()
            opt.step()

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (median over them)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per measurement; the first warms up")
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--presets", default=",".join(PRESETS_TIMED), help="preset recipes to time ('' = none)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu.json")
    args = parser.parse_args(argv)

    import cupy
    import torch

    dataset = load(args.data_dir)
    gpu = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    report = {
        "gpu": gpu,
        "cupy": cupy.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "batch_size": BATCH_SIZE,
        "networks": {},
        "presets": {},
    }
    print(f"{gpu}: CuPy {cupy.__version__}, PyTorch {torch.__version__}, batch {BATCH_SIZE}, Adam", flush=True)
    for name in filter(None, args.networks.split(",")):
        architecture = NETWORKS[name]
        rows = {"scratchnn": [], "scratchnn-unfused": [], "pytorch": []}
        accuracy = {}
        for _ in range(args.rounds):
            seconds, accuracy["scratchnn"] = scratchnn_epochs(dataset, architecture, args.epochs, fused=True)
            rows["scratchnn"] += seconds[1:]
            seconds, _ = scratchnn_epochs(dataset, architecture, args.epochs, fused=False)
            rows["scratchnn-unfused"] += seconds[1:]
            seconds, model, opt, loss_fn, x, y = torch_epochs(torch, dataset, architecture, args.epochs)
            rows["pytorch"] += seconds[1:]
        entry = {peer: {"epoch_seconds": s, "median": statistics.median(s)} for peer, s in rows.items()}
        entry["ratio"] = entry["scratchnn"]["median"] / entry["pytorch"]["median"]
        entry["ratio_unfused"] = entry["scratchnn-unfused"]["median"] / entry["pytorch"]["median"]
        entry["scratchnn_test_accuracy"] = accuracy["scratchnn"]
        try:
            entry["kernels_per_step"] = {
                "scratchnn": count_kernels(torch, scratchnn_step_runner(dataset, architecture, fused=True)),
                "scratchnn-unfused": count_kernels(torch, scratchnn_step_runner(dataset, architecture, fused=False)),
                "pytorch": count_kernels(torch, torch_step_runner(torch, model, opt, loss_fn, x, y)),
            }
        except Exception as exc:  # the profiler may not see kernels on every machine: say so, keep the timings
            entry["kernels_per_step"] = f"not counted: {type(exc).__name__}: {exc}"
        report["networks"][name] = entry
        print(
            f"{name:14s} scratchnn {entry['scratchnn']['median']:.3f} s/epoch "
            f"(unfused {entry['scratchnn-unfused']['median']:.3f}), PyTorch {entry['pytorch']['median']:.3f}: "
            f"ratio {entry['ratio']:.2f} (unfused {entry['ratio_unfused']:.2f}); kernels/step "
            f"{entry['kernels_per_step']}",
            flush=True,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))

    from scratchnn.training.presets import preset_settings

    for preset in filter(None, args.presets.split(",")):
        settings = preset_settings(preset)
        settings.pop("validation_size", None)
        settings["architecture"] = settings.get("architecture")
        if settings["architecture"] is None:
            from scratchnn.nn import architecture_text, mlp_specs

            layers = settings.pop("layers", (784, 128, 64, 10))
            specs = mlp_specs(layers, settings.pop("dropout", 0.0), settings.pop("batch_norm", False))
            settings["architecture"] = architecture_text(specs)
        settings.pop("epochs", None)
        architecture = settings.pop("architecture")
        seconds, _ = scratchnn_epochs(dataset, architecture, args.epochs + 1, fused=True, **settings)
        report["presets"][preset] = {"epoch_seconds": seconds[1:], "median": statistics.median(seconds[1:])}
        print(f"preset {preset:10s} {statistics.median(seconds[1:]):.3f} s/epoch with its augmentation", flush=True)
        args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
