"""Export of a trained model: its networks as Keras files, and one SavedModel with named serving signatures.

The SavedModel needs nothing of this project to run:

  model = tf.saved_model.load("runs/x/export/epoch_99/saved_model")
  codes = model.encode(images)["code"]           # images: float32 [n, 28, 28, 1] in [0, 1]

Its endpoints (each also a serving signature of the same name):

  encode(images)                 images float32 [n, 28, 28, 1] in [0, 1] -> {"code": float32 [n, ncode]}
  decode(codes[, labels])        codes float32 [n, ncode], labels int32 [n] where the decoder takes one
                                 -> {"images": float32 [n, 28, 28, 1] in [0, 1]}
  sample(n, seed)                n int32 scalar, seed int32 [2] -> {"images": float32 [n, 28, 28, 1] in [0, 1]}
  classify(images) / cluster(images), where the model has one
                                 -> {"label": int64 [n], "probabilities": float32 [n, categories]}
"""

import os
import shutil
import tempfile

import keras
import tensorflow as tf

from aae_tf import data as data_lib

SAVED_MODEL = "saved_model"


class ExportError(ValueError):
    """The export cannot be written; the message is one line."""


def export_folder(save_path, epoch):
    """Where ``--export`` writes the export of epoch ``epoch``."""
    return os.path.join(save_path, "export", f"epoch_{epoch}")


def signatures(model):
    """{endpoint name: (function of tensors, input signature)} of a TrainedModel."""
    experiment, config = model.experiment, model.config
    image_spec = tf.TensorSpec([None, *experiment.image_shape], tf.float32, name="images")
    code_spec = tf.TensorSpec([None, config.ncode], tf.float32, name="codes")

    def unit(images):
        images = tf.cast(images, tf.float32)
        return images if config.pixel_range == "unit" else tf.clip_by_value((images + 1.0) / 2.0, 0.0, 1.0)

    def encode(images):
        return {"code": experiment.encode(data_lib.from_unit_range(images, config.pixel_range))["code"]}

    endpoints = {"encode": (encode, [image_spec])}
    if experiment.decoder_needs_label():
        def decode(codes, labels):
            return {"images": unit(experiment.decode(codes, tf.one_hot(labels, model.label_categories)))}
        endpoints["decode"] = (decode, [code_spec, tf.TensorSpec([None], tf.int32, name="labels")])
    else:
        def decode(codes):
            return {"images": unit(experiment.decode(codes))}
        endpoints["decode"] = (decode, [code_spec])

    def sample(n, seed):
        return {"images": unit(experiment.sample_images(n, seed))}
    endpoints["sample"] = (sample, [tf.TensorSpec([], tf.int32, name="n"), tf.TensorSpec([2], tf.int32, name="seed")])

    def label_of(images):
        probabilities = experiment.encode(data_lib.from_unit_range(images, config.pixel_range))["label_code"]
        return {"label": tf.argmax(probabilities, -1), "probabilities": tf.cast(probabilities, tf.float32)}
    if experiment.has_classifier():
        endpoints["classify"] = (label_of, [image_spec])
    if experiment.has_clusters():
        endpoints["cluster"] = (label_of, [image_spec])
    return endpoints


def export(model, folder):
    """Writes ``encoder.keras``, ``decoder.keras`` and ``saved_model/`` of a TrainedModel into ``folder``.

    Everything is written to a temporary folder beside it and renamed into
    place at the end, so an interrupted export leaves nothing half-written;
    an existing ``folder`` is never replaced.

    Returns:
      The paths written.

    Raises:
      ExportError: ``folder`` exists.
    """
    if os.path.exists(folder):
        raise ExportError(f"{folder} exists already: delete it (or move it) to export again")
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        networks = model.experiment.networks
        networks["encoder"].save(os.path.join(staging, "encoder.keras"))
        networks["decoder"].save(os.path.join(staging, "decoder.keras"))
        archive = keras.export.ExportArchive()
        for name in sorted(networks):
            archive.track(networks[name])
        for name, (fn, spec) in signatures(model).items():
            archive.add_endpoint(name, tf.function(fn), input_signature=spec)
        archive.write_out(os.path.join(staging, SAVED_MODEL), verbose=False)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [os.path.join(folder, name) for name in ("encoder.keras", "decoder.keras", SAVED_MODEL)]
