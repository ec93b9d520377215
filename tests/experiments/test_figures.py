"""Figure 6 (embedding of the representations) and the Table 8-style case view, on a hand-made probe."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from kuda_pipeline.experiments import CellProbe, choose_cases, plot_cases, plot_representations
from kuda_pipeline.experiments.figures import attention_focus, dominant_modalities, embed_2d

N, D, L = 6, 4, 5


def _probe(unimodal_labels: bool = True, attention: bool = True) -> CellProbe:
    rng = np.random.default_rng(0)
    label = np.array([0.8, -0.6, 0.2, 0.0, -1.0, 0.4])
    outputs = {"label": label, "prediction": label * 0.9,
               "pred_t": np.array([0.8, 0.0, 0.0, 0.2, -0.8, 0.4]),
               "pred_v": np.array([0.0, -0.6, 0.0, 0.6, 0.0, 0.4]),
               "pred_a": np.array([0.0, 0.0, 0.2, -0.4, -0.2, 0.4])}
    if unimodal_labels:  # t dominates rows 0 and 4, v row 1, a row 2; row 3 t by a small margin, row 5 a tie
        outputs.update({"label_t": np.array([0.8, 0.2, 0.8, 0.2, -0.8, 0.4]),
                        "label_v": np.array([0.0, -0.6, -0.4, 0.4, 0.0, 0.4]),
                        "label_a": np.array([-0.2, 0.4, 0.2, -0.4, 0.0, 0.2])})
    maps = {m: rng.dirichlet(np.ones(L), size=N) for m in "tva"} if attention else {}
    representations = {name: rng.normal(size=(N, D)) + shift for shift, name in enumerate(("t", "v", "a", "fused"))}
    return CellProbe([f"video_0001$_$000{i}" for i in range(N)], outputs, representations, maps)  # MMSA ids


def _renders(figure: Figure) -> bool:
    figure.savefig(io.BytesIO(), format="png")  # text is parsed (e.g. as mathtext) only when drawn
    return True


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_representations_figure_has_one_scatter_per_modality_and_the_fused_one(method):
    figure = plot_representations(_probe(), "cell", method=method, perplexity=30)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert [collection.get_offsets().shape for collection in axes.collections] == [(N, 2)] * 4
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["text", "vision", "audio", "fused"]
    assert ("t-SNE" if method == "tsne" else "PCA") in axes.get_title() and _renders(figure)


def test_pca_embedding_keeps_the_two_main_directions():
    points = np.array([[2.0, 0, 0], [-2.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])
    embedded = embed_2d(points, "pca")
    np.testing.assert_allclose(np.abs(embedded), [[2, 0], [2, 0], [0, 1], [0, 1]], atol=1e-12)
    with pytest.raises(ValueError, match="unknown embedding method 'umap'"):
        embed_2d(points, "umap")


def test_dominant_modality_from_unimodal_labels_or_else_predictions():
    assert dominant_modalities(_probe()) == (["t", "v", "a", "t", "t", "t+v"], "unimodal labels")
    names, judged_on = dominant_modalities(_probe(unimodal_labels=False))
    assert judged_on == "unimodal predictions" and names[:3] == ["t", "v", "a"]


def test_cases_take_turns_over_modalities_by_margin():
    assert choose_cases(_probe(), 3) == [0, 1, 2]  # t by 0.8, v by 0.8, a by 0.2
    assert choose_cases(_probe(), 5) == [0, 1, 2, 4, 3]
    assert sorted(choose_cases(_probe(), 10)) == list(range(N))


def test_attention_focus_is_zero_when_uniform_and_one_on_a_single_position():
    maps = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(attention_focus(maps), [0.0, 1.0], atol=1e-9)


def test_case_view_shows_a_table_and_one_heatmap_per_case():
    figure = plot_cases(_probe(), [0, 1, 2], "cell")
    assert isinstance(figure, Figure)
    table = figure.axes[0].tables[0]
    header = [table[0, j].get_text().get_text() for j in range(11)]
    assert header == ["id", "label", "label_t", "label_v", "label_a", "prediction", "pred_t", "pred_v", "pred_a",
                      "dominant", "focus t"]
    assert table[1, 9].get_text().get_text() == "t" and table[1, 0].get_text().get_text() == r"video_0001\$_\$0000"
    heatmaps = [axes for axes in figure.axes[1:] if axes.images]
    assert len(heatmaps) == 3 and heatmaps[0].images[0].get_array().shape == (3, L)
    assert _renders(figure)


def test_case_view_without_attention_maps_says_so():
    figure = plot_cases(_probe(attention=False), [0], "cell")
    assert len(figure.axes) == 1 and "no attention maps" in figure.texts[-1].get_text() and _renders(figure)
