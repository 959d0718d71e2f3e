"""The loss and accuracy plots: whole-number epochs, and a title that says which run they show."""

from scratchnn.plots import _figure, save_plots

HISTORY = [
    {
        "epoch": e,
        "train_loss": 1.0 / e,
        "train_accuracy": 0.5 + e / 10,
        "test_loss": 1.2 / e,
        "test_accuracy": 0.4 + e / 10,
    }
    for e in (1, 2, 3)
]


def test_epoch_ticks_are_whole_numbers_on_a_short_run():
    ax = _figure(HISTORY, "loss", "loss", "t").axes[0]
    ticks = [tick for tick in ax.get_xticks() if 1 <= tick <= 3]
    assert ticks and all(float(tick).is_integer() for tick in ticks)


def test_title_names_the_metric_and_the_run(tmp_path, monkeypatch):
    titles = []
    import scratchnn.plots as plots

    real = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda *a: titles.append(a[3]) or real(*a))
    paths = save_plots(HISTORY, tmp_path, "classic: mnist, final test accuracy 70.00%")
    assert titles == [
        "loss of classic: mnist, final test accuracy 70.00%",
        "accuracy of classic: mnist, final test accuracy 70.00%",
    ]
    assert [p.name for p in paths] == ["loss.png", "accuracy.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
