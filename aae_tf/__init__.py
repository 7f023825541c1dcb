"""Adversarial autoencoders (Makhzani et al., 2016) on TensorFlow 2 and Keras 3.

``aae_tf.load_run(save_path)`` returns a trained run as a ``TrainedModel``
(``encode``, ``decode``, ``sample``, ``classify``, ``cluster``, ``export``).
"""


def load_run(save_path, epoch=None, data_path=None):
    """See ``aae_tf.api.load_run``."""
    from aae_tf import api  # imported on use: ``import aae_tf`` stays free of TensorFlow
    return api.load_run(save_path, epoch=epoch, data_path=data_path)
