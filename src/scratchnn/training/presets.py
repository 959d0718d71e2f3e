"""Named recipes for ``scratchnn train --preset``. Flags override them.

A recipe can differ by dataset: distortions that keep a digit a digit (small
rotations and zooms) do not suit clothes, which instead may be mirrored.
"""

PRESETS = {
    # The original system: full-batch vanilla gradient descent, 120 epochs.
    "classic": {},
    # 784-128-64-10 with the best recipe found (see README for its measurements).
    "mlp": dict(
        epochs=60,
        batch_size=128,
        optimizer="adam",
        lr=3e-3,
        schedule="cosine",
        warmup_epochs=1,
        augment=True,
        validation_size=5000,
    ),
    # A wider MLP for >= 99%.
    "mlp-large": dict(
        layers=(784, 1024, 1024, 10),
        epochs=60,
        batch_size=128,
        optimizer="adam",
        lr=1e-3,
        schedule="cosine",
        warmup_epochs=1,
        dropout=0.2,
        batch_norm=True,
        augment=True,
        elastic_alpha=1.0,
        validation_size=5000,
    ),
    # A small CNN: three 3x3 convolution blocks with batch norm, trained on
    # distorted digits. Chosen on seed 0's validation accuracy (README): the
    # benchmark's reference network with dropout (15 epochs) 99.26%; two blocks with
    # padding and batch norm (20 epochs) 99.50%; this, 99.54% (Fashion-MNIST: 92.98%
    # and 93.56%; the same blocks twice as wide, 94.32%: CNN_WIDE below). The test set
    # is measured once, at the end: it steers nothing, and each pass costs ~8 s on 2 cores.
    # 24 epochs rather than 20, by a rule set before the runs (seeds 0-2's validation
    # accuracy at least as high; it was exactly as high, so the README says a tie).
    "cnn": dict(
        architecture="conv32k3p1 bn relu maxpool2 conv64k3p1 bn relu maxpool2 conv128k3p1 bn relu maxpool2 "
        "flatten dense256 relu dropout0.4 dense10",
        epochs=24,
        batch_size=128,
        optimizer="adam",
        lr=1e-3,
        schedule="cosine",
        warmup_epochs=1,
        augment=True,
        validation_size=5000,
        test_every_epoch=False,
    ),
}

# The cnn preset's blocks with twice the filters: for clothes, whose textures and
# shapes the narrower net under-fits (validation 94.32% against 93.56%, README).
# About four times the arithmetic: a job for --device gpu.
CNN_WIDE = (
    "conv64k3p1 bn relu maxpool2 conv128k3p1 bn relu maxpool2 conv256k3p1 bn relu maxpool2 "
    "flatten dense256 relu dropout0.4 dense10"
)

# Changes to a preset for one dataset (measured; see README). Clothes: shift by
# up to a pixel and mirror, never rotate, zoom or bend.
CLOTHES = dict(max_shift=1.0, max_rotation=0.0, max_scale=0.0, elastic_alpha=0.0, hflip=True)
DATASET_CHANGES = {
    ("mlp", "fashion-mnist"): CLOTHES,
    ("mlp-large", "fashion-mnist"): CLOTHES,
    # 20 epochs: the Fashion-MNIST variant was measured so, before MNIST went to 24.
    ("cnn", "fashion-mnist"): dict(CLOTHES, architecture=CNN_WIDE, epochs=20),
}


def preset_settings(preset, dataset=None):
    """The settings of ``preset``, adapted to ``dataset`` (default: the preset's own)."""
    settings = dict(PRESETS[preset])
    dataset = dataset or settings.get("dataset", "mnist")
    settings.update(DATASET_CHANGES.get((preset, dataset), {}))
    return settings
