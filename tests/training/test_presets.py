"""The training presets and their per-dataset changes."""

from scratchnn.training.presets import CLOTHES, CNN_WIDE, PRESETS, preset_settings


def test_presets_change_for_fashion_mnist_only_where_a_change_is_measured():
    for preset in PRESETS:
        assert preset_settings(preset) == preset_settings(preset, "mnist") == PRESETS[preset]
    clothes = preset_settings("mlp", "fashion-mnist")
    assert clothes == {**PRESETS["mlp"], **CLOTHES} and clothes["hflip"] and clothes["max_rotation"] == 0.0
    assert preset_settings("classic", "fashion-mnist") == {}
    assert "hflip" not in PRESETS["mlp"]  # the preset itself is not changed


def test_the_cnn_presets_fashion_variant_keeps_the_recipe_it_was_measured_with():
    digits, clothes = preset_settings("cnn"), preset_settings("cnn", "fashion-mnist")
    assert digits["epochs"] == 24 and clothes["epochs"] == 20
    assert clothes["architecture"] == CNN_WIDE != digits["architecture"]
