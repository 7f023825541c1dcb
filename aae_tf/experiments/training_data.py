"""The splits of MNIST a run uses: validation held out, the labeled subset chosen (balanced, seeded)."""

import dataclasses

import numpy as np
import tensorflow as tf

from aae_tf import data as data_lib


@dataclasses.dataclass
class TrainingData:
    """The splits of MNIST a run uses.

    Attributes:
      train_images: float32 ``[n_train, 28, 28, 1]`` in [-1, 1].
      train_labels: int64 ``[n_train]``.
      labeled: bool ``[n_train]``, True where a training image keeps its label.
      validation, test: (uint8 images ``[n, 28, 28]``, int64 labels ``[n]``).
    """

    train_images: tf.Tensor
    train_labels: tf.Tensor
    labeled: np.ndarray
    validation: tuple
    test: tuple

    @property
    def n_train(self):
        return int(self.train_images.shape[0])

    @property
    def n_labeled(self):
        return int(self.labeled.sum())


def prepare_data(mnist, config):
    """Splits MNIST for ``config`` (its validation_size, nlabel and seed).

    Raises:
      data.DataError: a split that does not fit the data.
    """
    tr_x, tr_y, va_x, va_y = data_lib.split_validation(mnist, config.validation_size)
    labeled = np.ones(len(tr_y), dtype=bool)
    if config.nlabel > len(tr_y):
        raise data_lib.DataError(f"--nlabel {config.nlabel} exceeds the {len(tr_y)} training images "
                                 "(pass -1 to keep every label)")
    if 0 <= config.nlabel < len(tr_y):
        labeled[:] = False
        labeled[data_lib.balanced_labeled_subset(tr_y, config.nlabel, config.seed)] = True
    return TrainingData(data_lib.to_float_images(tr_x, config.pixel_range), tf.constant(tr_y, tf.int64), labeled,
                        (va_x, va_y), (mnist.test_images, mnist.test_labels))
