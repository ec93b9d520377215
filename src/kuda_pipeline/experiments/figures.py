"""Figure 6 (2-D embedding of the unimodal and fused representations) and a Table 8-style case view.

Figures are `matplotlib.figure.Figure` objects built without pyplot's global state. The case view shows, per
chosen sample, the attention each position of Ĥ_m receives (averaged over blocks and queries): a plain mean of
a map is 1 / L_f for every modality, since each query's weights sum to 1, so the maps are shown, with their
focus 1 - H / log L_f (0: uniform, 1: one position) as the one number per modality.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from kuda_pipeline.data.contract import MODALITIES, MODALITY_NAMES, TIE_MARGIN
from kuda_pipeline.experiments.probe import FUSED, CellProbe

NAMES = {**MODALITY_NAMES, FUSED: "fused"}
COLOURS = {"t": "tab:blue", "v": "tab:orange", "a": "tab:green", FUSED: "tab:red"}


def embed_2d(points: np.ndarray, method: str, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, d) -> (N, 2): "tsne" (scikit-learn, perplexity capped below N / 3) or "pca" (numpy SVD)."""
    if points.ndim != 2 or len(points) < 3:
        raise ValueError(f"embed_2d needs an (N, d) array with N >= 3, got shape {points.shape}")
    centred = (points - points.mean(axis=0)).astype(np.float64)  # (N, d)
    if method == "pca":
        _, _, components = np.linalg.svd(centred, full_matrices=False)  # components (min(N, d), d)
        return centred @ components[:2].T  # (N, 2)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(perplexity, (len(points) - 1) / 3)
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(centred)
    raise ValueError(f"unknown embedding method {method!r}; use 'tsne' or 'pca'")


def plot_representations(probe: CellProbe, title: str, method: str = "tsne", seed: int = 0,
                         perplexity: float = 30.0) -> Figure:
    """One 2-D embedding of every test sample's Ĥ_t, Ĥ_v, Ĥ_a and X_N together, coloured by modality."""
    names = [name for name in (*MODALITIES, FUSED) if name in probe.representations]
    stacked = np.concatenate([probe.representations[name] for name in names])  # (len(names) * N, d_f)
    embedded = embed_2d(stacked, method, seed, perplexity)  # (len(names) * N, 2)
    figure = Figure(figsize=(5.6, 5.0), layout="constrained")
    axes = figure.add_subplot()
    for name, points in zip(names, np.split(embedded, len(names)), strict=True):
        axes.scatter(points[:, 0], points[:, 1], s=8, alpha=0.7, color=COLOURS[name], label=NAMES[name])
    axes.set_title(f"{_literal(title)}\n{'t-SNE' if method == 'tsne' else 'PCA'} of test representations")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.legend(loc="best", fontsize="small", markerscale=2)
    return figure


def dominant_modalities(probe: CellProbe) -> tuple[list[str], str]:
    """Per sample the modality (or tied modalities, "t+v") closest to the label, and what it was judged on:
    the unimodal labels when the data has them (Appendix A), else the unimodal predictions."""
    present, distance, judged_on = _unimodal_distances(probe)
    dominant = distance <= distance.min(axis=1, keepdims=True) + TIE_MARGIN  # (N, M)
    return ["+".join(m for m, flag in zip(present, row, strict=True) if flag) for row in dominant], judged_on


def choose_cases(probe: CellProbe, count: int) -> list[int]:
    """Up to ``count`` sample indices, taking turns over the modalities: each time the sample that modality alone
    dominates by the widest margin (distance of the runner-up minus its own); then the widest margins left."""
    _, distance, _ = _unimodal_distances(probe)
    ordered = np.sort(distance, axis=1)  # (N, M)
    margin = ordered[:, 1] - ordered[:, 0] if distance.shape[1] > 1 else np.zeros(len(distance))  # (N,)
    winner = distance.argmin(axis=1)  # (N,)
    by_margin = [int(i) for i in np.argsort(-margin, kind="stable")]
    queues = [[i for i in by_margin if winner[i] == j and margin[i] > TIE_MARGIN] for j in range(distance.shape[1])]
    chosen: list[int] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen + [i for i in by_margin if i not in chosen][: count - len(chosen)]


def _unimodal_distances(probe: CellProbe) -> tuple[list[str], np.ndarray, str]:
    source = "label" if all(f"label_{m}" in probe.outputs for m in MODALITIES) else "pred"
    present = [m for m in MODALITIES if f"{source}_{m}" in probe.outputs]
    scores = np.column_stack([probe.outputs[f"{source}_{m}"] for m in present])  # (N, M)
    distance = np.abs(scores - probe.outputs["label"][:, None])  # (N, M)
    return present, distance, "unimodal labels" if source == "label" else "unimodal predictions"


def attention_focus(attention: np.ndarray) -> np.ndarray:
    """(N, L) attention received per position (rows sum to 1) -> (N,) focus 1 - H / log L in [0, 1]."""
    p = np.clip(attention, 1e-12, None)
    entropy = -(p * np.log(p)).sum(axis=1)  # (N,)
    return np.clip(1.0 - entropy / np.log(attention.shape[1]), 0.0, 1.0)


def plot_cases(probe: CellProbe, indices: list[int], title: str) -> Figure:
    """Table 8 style: per chosen sample the labels, predictions, dominant modality and attention focus, and below
    one heatmap per sample of the attention each position of Ĥ_t, Ĥ_v, Ĥ_a receives, relative to uniform."""
    dominant, judged_on = dominant_modalities(probe)
    modalities = [m for m in MODALITIES if m in probe.attention]
    focus = {m: attention_focus(probe.attention[m]) for m in modalities}
    columns = ["id", "label", *(f"label_{m}" for m in MODALITIES if f"label_{m}" in probe.outputs),
               "prediction", *(f"pred_{m}" for m in MODALITIES if f"pred_{m}" in probe.outputs)]
    header = [*columns, "dominant", *(f"focus {m}" for m in modalities)]
    rows = [[_literal(probe.ids[i]), *(f"{probe.outputs[c][i]:+.2f}" for c in columns[1:]), dominant[i],
             *(f"{focus[m][i]:.2g}" for m in modalities)] for i in indices]
    rows_of_panels = 2 if modalities else 1
    figure = Figure(figsize=(max(8.0, 1.0 * len(header)), 1.6 + 0.3 * len(rows) + 2.2 * (rows_of_panels - 1)),
                    layout="constrained")
    figure.suptitle(f"{_literal(title)}: test cases (dominant modality judged on the {judged_on})", fontsize="small")
    grid = figure.add_gridspec(rows_of_panels, max(1, len(indices)))
    table_axes = figure.add_subplot(grid[0, :])
    table_axes.axis("off")
    table = table_axes.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.auto_set_column_width(list(range(len(header))))
    if not modalities:
        figure.text(0.5, 0.02, "this cell's fusion returns no attention maps", ha="center", fontsize="small")
        return figure
    relative = {m: probe.attention[m] * probe.attention[m].shape[1] for m in modalities}  # 1 = uniform attention
    spread = max(float(np.abs(relative[m][indices] - 1.0).max()) for m in modalities) or 1.0
    for column, i in enumerate(indices):
        axes = figure.add_subplot(grid[1, column])
        maps = np.stack([relative[m][i] for m in modalities])  # (M, L_f)
        image = axes.imshow(maps, aspect="auto", cmap="coolwarm", vmin=1.0 - spread, vmax=1.0 + spread)
        axes.set_yticks(range(len(modalities)), modalities)
        axes.set_xlabel("position of Ĥ_m", fontsize="x-small")
        axes.set_title(_literal(probe.ids[i]), fontsize="x-small")
    figure.colorbar(image, ax=figure.axes[1:], shrink=0.8, label="attention received × L_f (1: uniform)")
    return figure


def _literal(text: str) -> str:
    """``text`` shown as written: MMSA ids such as ``video_0001$_$0001`` would otherwise start mathtext."""
    return text.replace("$", r"\$")
