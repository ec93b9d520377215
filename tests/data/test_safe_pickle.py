"""The restricted unpickler loads MMSA-like data and refuses anything executable."""

import collections
import os
import pickle

import numpy as np
import pytest

from kuda_pipeline.data.safe_pickle import PickleFileError, UnsafePickleError, load_untrusted_pickle


class _CreatesFile:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return open, (str(self.target), "w")


class _RunsShell:
    def __reduce__(self):
        return os.system, ("echo unsafe",)


def _mmsa_like():
    return {
        "train": {
            "id": np.array(["video_0001$_$0001", "video_0001$_$0002"], dtype=object),
            "raw_text": np.array(["我見山。", "i see ."], dtype=object),
            "vision": np.arange(12, dtype=np.float32).reshape(2, 3, 2),
            "text_bert": np.ones((2, 3, 4)),
            "regression_labels": np.array([[0.2], [-1.0]], dtype=np.float32),
            "vision_lengths": [3, 1],
        },
        "meta": collections.OrderedDict(scale=np.float64(1.5), count=np.int64(3), tags={"a", "b"}),
    }


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_mmsa_like_dict_round_trips(tmp_path, protocol):
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps(_mmsa_like(), protocol=protocol))
    loaded = load_untrusted_pickle(path)
    train = loaded["train"]
    assert train["id"].dtype == object and train["id"].tolist() == ["video_0001$_$0001", "video_0001$_$0002"]
    assert train["raw_text"][0] == "我見山。"
    np.testing.assert_array_equal(train["vision"], np.arange(12, dtype=np.float32).reshape(2, 3, 2))
    assert train["vision"].dtype == np.float32 and train["regression_labels"].shape == (2, 1)
    assert train["vision_lengths"] == [3, 1]
    assert loaded["meta"] == collections.OrderedDict(scale=1.5, count=3, tags={"a", "b"})


def test_payload_creating_a_file_is_refused(tmp_path):
    target = tmp_path / "created_by_pickle.txt"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"train": _CreatesFile(target)}, protocol=4))
    with pytest.raises(UnsafePickleError) as error:
        load_untrusted_pickle(path)
    assert str(path) in str(error.value) and "'io.open'" in str(error.value)
    assert not target.exists()


def test_payload_running_a_shell_command_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([_RunsShell()], protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global '(posix|os|nt)\.system'") as error:
        load_untrusted_pickle(str(path))
    assert str(path) in str(error.value)


def test_object_array_of_arbitrary_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(np.array([_RunsShell()], dtype=object), protocol=4))
    with pytest.raises(UnsafePickleError, match="system"):
        load_untrusted_pickle(path)


def test_pickle_written_by_numpy_1_loads(tmp_path):
    """numpy 1.x names `numpy.core.multiarray`, which numpy 2 still resolves."""
    payload = pickle.dumps({"vision": np.full((2, 2), -np.inf, dtype=np.float32)}, protocol=2)
    path = tmp_path / "old.pkl"
    path.write_bytes(payload.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    assert b"numpy.core.multiarray" in path.read_bytes()
    np.testing.assert_array_equal(load_untrusted_pickle(path)["vision"], np.full((2, 2), -np.inf, np.float32))


def _write(tmp_path, payload: bytes):
    path = tmp_path / "unaligned_39.pkl"
    path.write_bytes(payload)
    return path


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", r"unaligned_39\.pkl: the file is empty \(0 bytes\); expected a pickle$"),
        (b"PK\x03\x04" + bytes(40), r"unaligned_39\.pkl: not a pickle file \(a pickle of protocol 2 or later starts "
                                    r"with byte 0x80; this file starts with b'PK\\x03\\x04.*'\): A load persistent id"),
        (pickle.dumps({"a": np.arange(50)}, protocol=4)[:-30], r"unaligned_39\.pkl: the pickle is truncated: its "
                                                                r"data stops after \d+ bytes"),
        (b"\x80\x05\x96" + (2**60).to_bytes(8, "little"), r"unaligned_39\.pkl: unpickling ran out of memory: the "
                                                           r"11-byte file declares an object far larger than itself"),
        (b"\x80\x04\x95\x05" + bytes(7) + b"K\x01K\x02\x00.", r"unaligned_39\.pkl: corrupt pickle \(UnpicklingError: "),
    ],
    ids=["empty", "zip", "truncated", "huge_bytearray", "bad_opcode"],
)
def test_unreadable_file_is_one_line_naming_the_file(tmp_path, payload, message):
    path = _write(tmp_path, payload)
    with pytest.raises(PickleFileError, match=message) as error:
        load_untrusted_pickle(path)
    assert "\n" not in str(error.value) and str(error.value).startswith(str(path))


class _DeclaredArray:
    """Pickles as the call ``ndarray((1048576, 64), "f4")``: 256 MiB allocated, none of it in the file."""

    def __reduce__(self):
        return np.ndarray, ((1048576, 64), "f4")


def test_arrays_larger_than_the_file_are_refused_before_use(tmp_path):
    path = _write(tmp_path, pickle.dumps({"train": {"vision": _DeclaredArray()}}, protocol=4))
    with pytest.raises(PickleFileError, match=r"declares arrays of 268435456 bytes in a \d+-byte file"):
        load_untrusted_pickle(path)


def test_an_array_shared_by_two_keys_is_counted_once(tmp_path):
    vision = np.ones((40, 10), np.float32)
    path = _write(tmp_path, pickle.dumps({"a": vision, "b": vision, "c": [vision]}, protocol=4))
    loaded = load_untrusted_pickle(path)
    assert loaded["a"] is loaded["b"] is loaded["c"][0]
