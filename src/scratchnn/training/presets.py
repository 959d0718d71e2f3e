"""Named recipes for ``scratchnn train --preset``. Flags override them."""

PRESETS = {
    # The original system: full-batch vanilla gradient descent, 120 epochs.
    "classic": {},
    # 784-128-64-10 with the best recipe found (see README for its measurements).
    "mlp": dict(
        epochs=60, batch_size=128, optimizer="adam", lr=3e-3, schedule="cosine",
        warmup_epochs=1, augment=True, validation_size=5000,
    ),
    # A wider MLP for >= 99%.
    "mlp-large": dict(
        layers=(784, 1024, 1024, 10), epochs=60, batch_size=128, optimizer="adam", lr=1e-3,
        schedule="cosine", warmup_epochs=1, dropout=0.2, batch_norm=True, augment=True,
        elastic_alpha=1.0, validation_size=5000,
    ),
}
