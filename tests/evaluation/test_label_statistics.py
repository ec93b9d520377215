import numpy as np
import pandas as pd
import pytest

from kuda_pipeline.evaluation.label_statistics import STATISTICS_COLUMNS, dominance_statistics, polarity


def _samples(dtype=np.float32) -> pd.DataFrame:
    # row  split  y     T     V     A     |y_m - y| (T, V, A)   polarity y; T V A (band 0.1)
    #  0   train  0.6   0.8   0.4  -0.2   0.2 0.2 0.8 tie       + ; + + -   noise A
    #  1   train -0.4  -0.4   0.0  -1.0   0.0 0.4 0.6           - ; - 0 -   noise V
    #  2   valid  0.0   0.2  -0.2   0.1   0.2 0.2 0.1           0 ; + - 0   noise T, V
    #  3   valid  1.0   0.6   1.0   0.8   0.4 0.0 0.2           + ; + + +   none
    #  4   test  -0.8   0.2  -0.6  -1.0   1.0 0.2 0.2 tie       - ; + - -   noise T
    return pd.DataFrame({
        "id": [f"video_{index}" for index in range(5)],
        "split": ["train", "train", "valid", "valid", "test"],
        "label": np.array([0.6, -0.4, 0.0, 1.0, -0.8], dtype=dtype),
        "label_T": np.array([0.8, -0.4, 0.2, 0.6, 0.2], dtype=dtype),
        "label_V": np.array([0.4, 0.0, -0.2, 1.0, -0.6], dtype=dtype),
        "label_A": np.array([-0.2, -1.0, 0.1, 0.8, -1.0], dtype=dtype),
    })


EXPECTED = pd.DataFrame(
    [
        # split, n, dominant T, V, A, noise, noise T, V, A
        ["train", 2, 1.0, 0.5, 0.0, 1.0, 0.0, 0.5, 0.5],
        ["valid", 2, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0],
        ["test", 1, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
        ["all", 5, 0.4, 0.6, 0.4, 0.8, 0.4, 0.4, 0.2],
    ],
    columns=list(STATISTICS_COLUMNS),
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shares_per_split_with_ties(dtype):
    stats = dominance_statistics(_samples(dtype))

    pd.testing.assert_frame_equal(stats, EXPECTED, check_dtype=False)
    assert stats["n_samples"].dtype == np.int64


def test_tolerance_makes_near_ties_dominant():
    # tolerance 0.1: row 2 (distances 0.2, 0.2, 0.1) has all three dominant; no other row changes.
    stats = dominance_statistics(_samples(), tolerance=0.1).set_index("split")

    assert stats.loc["valid", ["dominant_share_T", "dominant_share_V", "dominant_share_A"]].tolist() == [
        0.5, 1.0, 0.5
    ]
    assert stats.loc["all", ["dominant_share_T", "dominant_share_V", "dominant_share_A"]].tolist() == pytest.approx(
        [0.6, 0.8, 0.4]
    )


def test_zero_neutral_band_is_the_plain_sign():
    # band 0: row 2's audio label 0.1 becomes positive against the neutral multimodal 0.0.
    stats = dominance_statistics(_samples(), neutral_band=0.0).set_index("split")

    assert stats.loc["valid", "noise_share_A"] == 0.5
    assert stats.loc["all", "noise_share_A"] == pytest.approx(0.4)
    assert stats.loc["all", "noise_share"] == pytest.approx(0.8)
    assert polarity(np.array([-0.3, -0.0, 0.0, 1e-6]), 0.0).tolist() == [-1, 0, 0, 1]
    assert polarity(np.array([-0.1, -0.11, 0.1, 0.11], dtype=np.float32), 0.1).tolist() == [0, -1, 0, 1]


def test_bad_tables_are_rejected():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['label_V', 'label_A'\]"):
        dominance_statistics(_samples().drop(columns=["label_V", "label_A"]))
    with pytest.raises(ValueError, match="empty"):
        dominance_statistics(_samples().iloc[:0])
    with pytest.raises(ValueError, match=r"1 sample\(s\) with a missing or non-finite label, e.g. rows \[3\]"):
        dominance_statistics(_samples().assign(label_V=[0.4, 0.0, -0.2, np.nan, -0.6]))
    with pytest.raises(ValueError, match="may not be named 'all'"):
        dominance_statistics(_samples().assign(split="all"))
    with pytest.raises(ValueError, match="tolerance=-0.1"):
        dominance_statistics(_samples(), tolerance=-0.1)
