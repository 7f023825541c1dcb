"""A trained run for use elsewhere: load it, then encode, decode, sample, classify or cluster with numpy arrays.

  import aae_tf
  model = aae_tf.load_run("runs/aae_semisupervised_z10_labels1000")   # newest checkpoint
  codes = model.encode(images)             # images: [n, 28, 28] uint8, or float in [0, 1]
  digits = model.classify(images)          # int64 [n]
  pictures = model.decode(codes, digits)   # float32 [n, 28, 28, 1] in [0, 1]

Every image that goes in is ``[n, 28, 28]`` or ``[n, 28, 28, 1]``, either
uint8 (0 to 255) or float in [0, 1]; every image that comes out is float32
``[n, 28, 28, 1]`` in [0, 1], whatever pixel range the run trained on.
"""

import numpy as np
import tensorflow as tf

from aae_tf import data as data_lib
from aae_tf import evaluation
from aae_tf import run as run_lib
from aae_tf import runfiles


def load_run(save_path, epoch=None, data_path=None):
    """The model a training run saved in ``save_path``, restored from one checkpoint.

    Reads only: it takes no lock and writes nothing, so it is safe beside a
    process that is still training the folder.

    Args:
      save_path: the run's folder (what ``--save_path`` named).
      epoch: the epoch (counted from 0) whose checkpoint to restore; None:
        the newest on disk.
      data_path: MNIST's folder, if the run's own is not found offline (the
        experiment is rebuilt on the data it trained on).

    Returns:
      A TrainedModel.

    Raises:
      run.UserError: no trained run there, or no checkpoint of ``epoch``;
        the message is one line.
    """
    config, trained_data_path = run_lib.trained_config(save_path)
    epochs = runfiles.checkpoints_on_disk(f"{save_path}/{runfiles.CHECKPOINT_DIR}")
    if not epochs:
        raise run_lib.UserError(f"{save_path} holds no checkpoint yet: train it first")
    epoch = epochs[-1] if epoch is None else int(epoch)
    mnist = run_lib.load_data(data_path or trained_data_path, config.dataset)
    engine = run_lib.restore_trained(config, save_path, mnist, epoch)
    return TrainedModel(engine.setup, epoch, save_path)


class TrainedModel:
    """A trained experiment behind numpy in, numpy out.

    Attributes:
      config: the ExperimentConfig it was trained with, but for its precision: it computes in float32
        whatever precision it trained in.
      epoch: the epoch whose checkpoint it holds.
      experiment: the experiment (its networks are ``experiment.networks``).
      save_path: the run's folder.
      label_categories: categories of the label the decoder takes (0: it
        takes a code alone).
    """

    def __init__(self, experiment, epoch, save_path):
        self.experiment, self.epoch, self.save_path = experiment, epoch, save_path
        self.config = experiment.config
        self.label_categories = experiment.decoder_label_categories()

    # ------------------------------------------------------------ images in and out

    def model_images(self, images):
        """User images (see the module docstring) as the networks take them: float32 tensor in the run's range."""
        return data_lib.from_unit_range(as_unit_images(images, self.experiment.image_shape), self.config.pixel_range)

    def _out(self, images):
        return self.experiment.unit(images).astype(np.float32)

    # ------------------------------------------------------------ what a user calls

    def encode(self, images, batch_size=1000):
        """The representation of each image: float32 ``[n, ncode]``.

        For most experiments that is the style code z (the encoder's mean);
        for dimensionality reduction it is the cluster head plus the style,
        the 2-D point --viz plots.
        """
        return self._encoded(images, "code", batch_size).astype(np.float32)

    def decode(self, codes, labels=None):
        """Images decoded from ``codes``: float32 ``[n, 28, 28, 1]`` in [0, 1].

        Args:
          codes: float ``[n, ncode]``.
          labels: int ``[n]`` in ``[0, label_categories)``: the digit (or
            cluster) each image is drawn as, required when
            ``label_categories`` is above 0; for dimensionality reduction,
            optional (without it, ``codes`` is the whole representation).
        """
        codes = np.asarray(codes, np.float32)
        if codes.ndim != 2 or codes.shape[1] != self.config.ncode:
            raise ValueError(f"codes must be [n, {self.config.ncode}], got shape {codes.shape}")
        label_code = self._label_code(labels, len(codes))
        return self._out(self.experiment.decode(tf.constant(codes), label_code))

    def sample(self, n, seed=0):
        """``n`` images decoded from prior samples (labels cycling through the categories): ``[n, 28, 28, 1]``."""
        return self._out(self.experiment.sample_images(int(n), tf.constant([int(seed), 0], tf.int32)))

    def classify(self, images, batch_size=1000):
        """The digit q(y|x) gives each image: int64 ``[n]`` (semi-supervised and labeled dimensionality reduction)."""
        if not self.experiment.has_classifier():
            raise ValueError(f"the {self.config.mode} model has no classifier (it was trained with "
                             f"{'no' if self.config.nlabel == 0 else 'another kind of'} label code)")
        return np.argmax(self._label_codes(images, batch_size), -1).astype(np.int64)

    def cluster(self, images, batch_size=1000):
        """The cluster q(y|x) gives each image: int64 ``[n]`` (clustering and unsupervised dimensionality reduction)."""
        if not self.experiment.has_clusters():
            raise ValueError(f"the {self.config.mode} model has no clusters")
        return np.argmax(self._label_codes(images, batch_size), -1).astype(np.int64)

    def export(self, folder=None):
        """Writes the Keras files and the SavedModel (see ``aae_tf.export``); returns the paths written.

        Args:
          folder: where (default: ``<save_path>/export/epoch_<epoch>``); must not exist.
        """
        from aae_tf import export as export_lib
        return export_lib.export(self, folder or export_lib.export_folder(self.save_path, self.epoch))

    # ------------------------------------------------------------ helpers

    def _encoded(self, images, key, batch_size):
        """The encoder's output ``key`` (inference mode) for user images, in batches."""
        return evaluation.batched(lambda x: self.experiment.encode(self.model_images(x))[key],
                                  np.asarray(images), batch_size=batch_size)

    def _label_codes(self, images, batch_size):
        return self._encoded(images, "label_code", batch_size)

    def _label_code(self, labels, n):
        if labels is None:
            if self.experiment.decoder_needs_label():
                raise ValueError(f"the {self.config.mode} decoder draws each image as one of "
                                 f"{self.label_categories} categories: pass labels")
            return None
        labels = np.asarray(labels)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be {n} integers, got {labels.dtype} of shape {labels.shape}")
        if not self.label_categories:
            raise ValueError(f"the {self.config.mode} decoder takes no label")
        if labels.min() < 0 or labels.max() >= self.label_categories:
            raise ValueError(f"labels must lie in [0, {self.label_categories})")
        return tf.one_hot(labels, self.label_categories)


def as_unit_images(images, image_shape=data_lib.IMAGE_SHAPE):
    """``[n, h, w]`` or ``[n, h, w, c]`` images, uint8 or float in [0, 1], as float32 ``[n, h, w, c]`` in [0, 1].

    Raises:
      ValueError: a shape other than ``image_shape``, or float values outside [0, 1].
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != tuple(image_shape):
        h, w, c = image_shape
        wanted = f"[n, {h}, {w}] or [n, {h}, {w}, 1]" if c == 1 else f"[n, {h}, {w}, {c}]"
        raise ValueError(f"images must be {wanted}, got shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    images = images.astype(np.float32)
    if images.size and (images.min() < 0.0 or images.max() > 1.0):
        raise ValueError("float images must lie in [0, 1] (pass uint8 for 0-255 pixels)")
    return images
