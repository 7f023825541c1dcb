"""The supervised adversarial autoencoder: style and content apart (paper Section 4, Fig. 6 and 7)."""

import tensorflow as tf

from aae_tf.experiments.base import NUM_CLASSES, Experiment
from aae_tf import figures


class Supervised(Experiment):
    """The decoder sees the code and the one-hot label, so the code carries style only."""

    name = "supervised"

    @classmethod
    def run_name(cls, config):
        return f"aae_supervised_z{config.ncode}"

    def decoder_label_width(self):
        return NUM_CLASSES

    def decoder_input(self, code, label_code):
        return tf.concat([code, label_code], -1)

    def label_code_for_decoder(self, out, labels):
        return tf.one_hot(labels, NUM_CLASSES)

    def sample_label_codes(self, n):
        return tf.one_hot(tf.range(n) % NUM_CLASSES, NUM_CLASSES)

    def style_grid(self, n_styles, seed):
        """One style code per column, one digit per row (paper Fig. 7): ``[10 * n_styles, 28, 28, 1]``."""
        styles = self.prior.sample(n_styles, seed)
        code = tf.tile(styles, [NUM_CLASSES, 1])  # row r, column c: style c
        digits = tf.repeat(tf.range(NUM_CLASSES), n_styles)
        return self.decode(code, tf.one_hot(digits, NUM_CLASSES))

    def figures(self, save_path, mnist):
        return [figures.latent(self, save_path, mnist)]
