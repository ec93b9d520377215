"""The one atomic-write helper: all or nothing, and no temporary file left behind."""

import pytest

from kuda_pipeline.atomic_file import atomic_write


def test_writes_the_file_creating_its_directory(tmp_path):
    path = tmp_path / "nested" / "file.bin"
    with atomic_write(path) as file:
        file.write(b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]


def test_a_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(path) as file:
            file.write(b"half")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
