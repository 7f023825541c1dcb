"""The variational autoencoder the paper compares with (Fig. 2), on the same networks, priors and engine."""

import tensorflow as tf

from aae_tf import figures
from aae_tf import losses
from aae_tf.experiments.base import Experiment, Phase, make_optimizer, split


class VAE(Experiment):
    """One phase: the negative ELBO, with the Gaussian (variational) encoder."""

    name = "vae"
    # Adam with beta1 0.9: the usual for a VAE, which has no adversary to balance; the reference's rate.
    defaults = {"variational_encoder": True, "beta1": 0.9, "learning_rate": 1e-3}
    paper_recipe = None  # the paper only compares with a VAE; it gives no recipe for one

    @classmethod
    def run_name(cls, config):
        return f"vae_{config.dist_type}_z{config.ncode}"

    @classmethod
    def check(cls, config):
        super().check(config)
        if not config.variational_encoder:
            raise ValueError("the VAE needs the Gaussian (variational) encoder")

    def extra_networks(self, widths):
        return {}

    def negative_elbo(self, batch, seed, training=True):
        """Reconstruction (unit-variance Gaussian decoder) plus KL(q(z|x) || p(z)), per image."""
        s_enc, _ = split(seed, 2)
        if training:
            out = self.encode_train(batch["image"], s_enc)
        else:
            out = self.networks["encoder"](batch["image"], training=False, seed=s_enc)
        rec = losses.vae_reconstruction_loss(batch["image"], self.decode(out["style_code"], training=training))
        if self.config.dist_type == "gaussian":
            kl = losses.gaussian_kl(out["mean"], out["log_std"])
        else:  # no closed form for a mixture: one-sample Monte Carlo estimate
            kl = losses.monte_carlo_kl(out["style_code"], out["mean"], out["log_std"],
                                       self.prior.distribution.log_prob(out["style_code"]))
        return rec + kl, {"reconstruction_loss": rec, "kl_divergence": kl, "negative_elbo": rec + kl}

    def build_phases(self):
        return [Phase("elbo", self.autoencoder_networks(), self.negative_elbo,
                      make_optimizer(self.config, self.steps_per_epoch))]

    def test_scores(self, images, seed=(0, 4), batch_size=1000):
        """Mean negative ELBO and its terms over ``images`` (float ``[n, 28, 28, 1]``), networks in inference mode."""
        totals = {}
        for start in range(0, len(images), batch_size):
            batch = {"image": images[start:start + batch_size]}
            _, logs = self.negative_elbo(batch, tf.constant(seed, tf.int32), training=False)
            for k, v in logs.items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(batch["image"])
        return {k: v / len(images) for k, v in totals.items()}

    def figures(self, save_path, mnist):
        return [figures.latent(self, save_path, mnist)] + figures.manifolds(self, save_path)
