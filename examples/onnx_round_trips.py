"""The ONNX round trips and their largest absolute differences, on all 10,000 MNIST test images.

Run: python examples/onnx_round_trips.py
(needs pip install -e '.[onnx]'; the PyTorch part needs pip install torch==2.13.0)

1. scratchnn -> ONNX -> onnxruntime, against scratchnn's own logits: an MLP
   without and with batch norm, trained for 2 epochs here, and a CNN with
   random weights.
2. scratchnn -> ONNX -> scratchnn: the same weights, so the same logits.
3. PyTorch -> ONNX -> scratchnn, against PyTorch's outputs: an MLP with batch
   norm and a final softmax, random weights, batch-norm statistics from 2,000
   test images (weights need not be good to show that the maths agree).
"""

import io
import warnings

import numpy as np
import onnxruntime

import scratchnn
import scratchnn.nn
from scratchnn.interop.onnx import from_onnx, to_onnx
from scratchnn.nn import softmax

data = scratchnn.load_dataset("mnist")
x = data.test.features()  # (10000, 784) float32 in [0, 1]


def onnxruntime_output(proto):
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    graph_input = session.get_inputs()[0]  # shape ["N", 784] or ["N", 1, 28, 28]
    return session.run(None, {graph_input.name: x.reshape(-1, *graph_input.shape[1:])})[0]


def report(what, a, b):
    print(f"{what:<62} max |difference| {np.abs(a - b).max():.3g}")


for batch_norm in (False, True):
    model = scratchnn.train("mlp", data, epochs=2, batch_norm=batch_norm, log=None)
    name = "784-128-64-10" + (" with batch norm" if batch_norm else "")
    logits = model.network.predict_logits(x)
    report(
        f"{name} ({model.metadata['test_accuracy']:.2%}): onnxruntime logits",
        onnxruntime_output(to_onnx(model.network)),
        logits,
    )
    report(
        f"{name}: onnxruntime probabilities",
        onnxruntime_output(to_onnx(model.network, probabilities=True)),
        softmax(logits),
    )
    back, _ = from_onnx(to_onnx(model.network))
    report(f"{name}: exported and imported again, logits", back.predict_logits(x), logits)

model = scratchnn.nn.build_model(
    scratchnn.nn.parse_architecture("conv8k3p1 bn relu maxpool2 conv16k3s2 relu avgpool2 flatten dropout0.25 dense10"),
    (1, 28, 28),
    seed=1,
)
logits = model.predict_logits(x)
report("CNN, random weights (every image layer): onnxruntime logits", onnxruntime_output(to_onnx(model)), logits)
report("CNN: exported and imported again, logits", from_onnx(to_onnx(model))[0].predict_logits(x), logits)

try:
    import torch
except ImportError:
    print("PyTorch is not installed: pip install torch==2.13.0 for the PyTorch round trip")
else:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 128),
        torch.nn.BatchNorm1d(128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
        torch.nn.Softmax(dim=1),
    )
    with torch.no_grad():
        net.train()
        for batch in torch.from_numpy(x[:2000]).split(200):
            net(batch)
        net.eval()
        torch_probs = net(torch.from_numpy(x)).numpy()
        torch_logits = net[:-1](torch.from_numpy(x)).numpy()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            net,
            (torch.from_numpy(x[:2]),),
            buffer,
            dynamo=False,
            dynamic_axes={"input": {0: "n"}},
            input_names=["input"],
        )
    import onnx

    model, meta = from_onnx(onnx.load_from_string(buffer.getvalue()))
    logits = model.predict_logits(x)
    report(f"PyTorch {model!r:.40}...: logits", logits, torch_logits)
    report(f"PyTorch, final {meta['final_softmax']} applied to scratchnn's logits", softmax(logits), torch_probs)
