import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from kuda_pipeline.evaluation.figures import plot_dominance, plot_noise

STATS = pd.DataFrame({
    "split": ["train", "valid", "test", "all"],
    "n_samples": [2, 2, 1, 5],
    "dominant_share_T": [1.0, 0.0, 0.0, 0.4],
    "dominant_share_V": [0.5, 0.5, 1.0, 0.6],
    "dominant_share_A": [0.0, 0.5, 1.0, 0.4],
    "noise_share": [1.0, 0.5, 1.0, 0.8],
})


def test_dominance_figure_has_one_bar_per_split_and_modality():
    figure = plot_dominance(STATS, "sims")
    axes = figure.axes[0]

    assert isinstance(figure, Figure)
    heights = [patch.get_height() for patch in axes.patches]
    assert heights == pytest.approx([100, 0, 0, 40, 50, 50, 100, 60, 0, 50, 100, 40])  # T bars, V bars, A bars
    assert [label.get_text() for label in axes.get_xticklabels()] == ["train", "valid", "test", "all"]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["text", "vision", "audio"]
    assert "sims" in axes.get_title()
    assert axes.yaxis.get_major_formatter()(50, 0) == "50%"


def test_noise_figure_has_one_bar_per_split():
    figure = plot_noise(STATS, "simsv2")
    axes = figure.axes[0]

    assert [patch.get_height() for patch in axes.patches] == pytest.approx([100, 50, 100, 80])
    assert "simsv2" in axes.get_title()
    assert "%" in axes.get_ylabel()


@pytest.mark.parametrize("plot", [plot_dominance, plot_noise])
def test_empty_statistics_give_an_explanatory_figure(plot):
    figure = plot(pd.DataFrame(), "mosi")

    assert len(figure.axes[0].patches) == 0
    assert "no unimodal labels" in figure.axes[0].texts[0].get_text()
    assert "mosi" in figure.axes[0].get_title()


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['dominant_share_A'\]"):
        plot_dominance(STATS.drop(columns="dominant_share_A"), "sims")


def test_figure_renders_to_png(tmp_path):
    path = tmp_path / "dominance.png"
    plot_dominance(STATS, "sims").savefig(path)

    assert path.stat().st_size > 1000 and np.frombuffer(path.read_bytes()[:4], np.uint8).tolist() == [137, 80, 78, 71]
