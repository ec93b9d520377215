"""Split arrays on disk: `<directory>/<split>/<key>.npy`, written atomically, read memory-mapped."""

import shutil
import tempfile
from pathlib import Path

import numpy as np

from kuda_pipeline.data.contract import SPLITS


def save_split_arrays(directory: Path, splits: dict[str, dict[str, np.ndarray]]) -> None:
    """Write every array under a temporary sibling directory, then rename it to `directory`.

    A failure (e.g. an object array, which `.npy` can only hold as a pickle) leaves `directory`
    as it was.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        for split, arrays in splits.items():
            (staging / split).mkdir()
            for key, array in arrays.items():
                if np.asarray(array).dtype == object:
                    raise ValueError(
                        f"split '{split}', key '{key}': object arrays cannot be saved as split arrays; "
                        "convert them to a numeric or unicode dtype first"
                    )
                np.save(staging / split / f"{key}.npy", array, allow_pickle=False)
        _replace_directory(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_directory(source: Path, target: Path) -> None:
    if not target.exists():
        source.rename(target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    target.rename(retired / target.name)
    source.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def load_split_arrays(directory: Path) -> dict[str, dict[str, np.ndarray]]:
    """Memory-map every `<split>/<key>.npy` under `directory` (read-only)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"split arrays directory {directory} does not exist")
    split_dirs = sorted(
        (path for path in directory.iterdir() if path.is_dir() and any(path.glob("*.npy"))),
        key=lambda path: (SPLITS.index(path.name) if path.name in SPLITS else len(SPLITS),
                          path.name),
    )
    if not split_dirs:
        raise FileNotFoundError(f"split arrays directory {directory} holds no <split>/<key>.npy files")
    return {
        split_dir.name: {
            path.stem: np.load(path, mmap_mode="r", allow_pickle=False) for path in sorted(split_dir.glob("*.npy"))
        }
        for split_dir in split_dirs
    }
