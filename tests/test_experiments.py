"""Each experiment in-process, on synthetic MNIST-shaped data: its networks, phases, batches and evaluation."""

import numpy as np
import pytest
import tensorflow as tf

from aae_tf import experiments

# 600 training images, 100 held out: 500 to train on, in batches of 20 (25 steps).
SMALL = dict(hidden=16, batch_size=20, validation_size=100, max_epoch=1)


def build(name, synthetic_mnist, **overrides):
    config = experiments.default_config(name, **dict(SMALL, **overrides))
    return experiments.create(config, synthetic_mnist)


def first_layer_width(net):
    return net.trainable_variables[0].shape[0]


@pytest.mark.parametrize("name, overrides, phases, z_width, y_width, decoder_width", [
    ("unsupervised", dict(ncode=2), ["reconstruction", "discriminator", "generator"], 2, None, 2),
    ("label", dict(ncode=2, dist_type="gmm", nlabel=100), ["reconstruction", "discriminator", "generator"],
     2 + 11, None, 2),
    ("supervised", dict(ncode=3), ["reconstruction", "discriminator", "generator"], 3, None, 3 + 10),
    ("semisupervised", dict(ncode=4, nlabel=100), ["reconstruction", "discriminator", "generator", "classification"],
     4, 10, 4 + 10),
    ("cluster", dict(ncode=5, ncluster=7), ["reconstruction", "discriminator", "generator"], 5, 7, 5 + 7),
    ("dimreduce", dict(ncode=2, nlabel=100), ["reconstruction", "discriminator", "generator", "classification"],
     2, 10, 2),
    ("dimreduce", dict(ncode=2, nlabel=0), ["reconstruction", "discriminator", "generator"], 2, 20, 2),
    ("vae", dict(ncode=2), ["elbo"], None, None, 2),
])
def test_networks_and_phases(name, overrides, phases, z_width, y_width, decoder_width, synthetic_mnist):
    exp = build(name, synthetic_mnist, **overrides)
    nets = exp.networks
    assert [p.name for p in exp.phases] == phases
    assert first_layer_width(nets["decoder"]) == decoder_width
    assert (first_layer_width(nets["discriminator"]) if "discriminator" in nets else None) == z_width
    assert (first_layer_width(nets["label_discriminator"]) if "label_discriminator" in nets else None) == y_width
    batch = next(iter(exp.train_batches(0)))
    assert batch["image"].shape == (20, 28, 28, 1)
    assert ("labeled_image" in batch) == ("classification" in phases)


@pytest.mark.parametrize("name, overrides", [
    ("unsupervised", {}), ("semisupervised", dict(nlabel=100)), ("cluster", dict(ncluster=6)),
    ("dimreduce", dict(nlabel=100)), ("vae", {}), ("semisupervised", dict(nlabel=100, labeled_reconstruction=True)),
])
def test_each_phase_changes_only_its_own_networks(name, overrides, synthetic_mnist):
    exp = build(name, synthetic_mnist, **overrides)
    batch = next(iter(exp.train_batches(0)))
    for i, phase in enumerate(exp.phases):
        before = {n: [v.numpy().copy() for v in net.trainable_variables] for n, net in exp.networks.items()}
        variables = [v for n in phase.networks for v in exp.networks[n].trainable_variables]
        with tf.GradientTape() as tape:
            loss, logs = phase.loss_fn(batch, tf.constant([i, 5]))
        phase.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        assert all(np.isfinite(float(v)) for v in logs.values())
        for n, net in exp.networks.items():
            changed = any(not np.array_equal(a, b.numpy()) for a, b in zip(before[n], net.trainable_variables))
            assert changed == (n in phase.networks), (phase.name, n)


def test_label_mode_pairs_labeled_images_with_their_own_component(synthetic_mnist):
    exp = build("label", synthetic_mnist, dist_type="gmm", nlabel=500)  # every training image labeled
    batch = next(iter(exp.train_batches(0)))
    codes = exp.prior_codes(batch, tf.constant([1, 2])).numpy()
    angles = np.mod(np.arctan2(codes[:, 1], codes[:, 0]), 2 * np.pi)
    nearest = np.round(angles / (2 * np.pi / 10)).astype(int) % 10
    assert np.mean(nearest == batch["label"].numpy()) > 0.8
    features = exp.z_features(codes, batch).numpy()
    np.testing.assert_array_equal(np.argmax(features[:, 2:], -1), batch["label"].numpy())


def test_evaluation_names_and_the_metric_that_chooses(synthetic_mnist):
    semi = build("semisupervised", synthetic_mnist, nlabel=100).evaluate()
    assert semi["test_error"] == semi["test_classification_error"] and "validation_error" in semi
    assert build("semisupervised", synthetic_mnist, nlabel=100).selection_metric == "validation_error"
    cluster = build("cluster", synthetic_mnist, ncluster=6)
    metrics = cluster.evaluate()
    assert metrics["test_error"] == metrics["test_cluster_error"]
    assert 1 <= metrics["test_clusters_used"] <= 6 and 0 < metrics["test_largest_cluster"] <= 1
    # The majority naming is the best any naming of the same clusters can do on the test images.
    assert 100 - metrics["test_cluster_purity"] <= metrics["test_cluster_error"] + 1e-9
    assert cluster.selection_metric == "validation_cluster_error" and 0 <= metrics["validation_cluster_error"] <= 100
    dim = build("dimreduce", synthetic_mnist, nlabel=100)
    metrics = dim.evaluate()
    assert metrics["test_error"] == metrics["test_classification_error"] and "test_cluster_error" in metrics
    assert dim.selection_metric == "validation_error"
    unlabeled = build("dimreduce", synthetic_mnist, nlabel=0)
    assert unlabeled.selection_metric == "validation_cluster_error"
    metrics = unlabeled.evaluate()
    assert metrics["test_error"] == metrics["test_cluster_error"] and "test_classification_error" not in metrics


def test_dimreduce_reports_how_far_apart_its_heads_are(synthetic_mnist):
    dim = build("dimreduce", synthetic_mnist, nlabel=100, ncode=3)
    # ten heads on a line, 2 apart: the 45 pairs are 2k apart (10 - k times), so the 23rd smallest is 6
    dim.networks["cluster_heads"].heads.assign([[2.0 * i, 0.0, 0.0] for i in range(10)])
    metrics = dim.evaluate()
    assert metrics["cluster_head_min_distance"] == pytest.approx(2.0, abs=1e-5)
    assert metrics["cluster_head_median_distance"] == pytest.approx(6.0, abs=1e-5)
    style = dim.encode(dim.images(dim.data.validation[0]))["mean"].numpy()  # 100 validation images
    assert style.shape == (100, 3)
    assert metrics["validation_style_std"] == pytest.approx(np.mean(np.std(style, axis=0)), rel=1e-4)


@pytest.mark.parametrize("name, overrides", [("unsupervised", {}), ("supervised", {}),
                                             ("semisupervised", dict(nlabel=100))])
@pytest.mark.parametrize("jit_compile", [True, False])
def test_compiled_evaluation_matches_the_plain_reconstruction_error(name, overrides, jit_compile, synthetic_mnist):
    exp = build(name, synthetic_mnist, jit_compile=jit_compile, **overrides)
    images, labels = exp.data.test  # 120 test images
    x = exp.images(images)
    expected = np.mean(np.square(x.numpy() - exp.reconstruct(x, tf.constant(labels)).numpy()))
    assert exp.evaluate()["test_reconstruction_error"] == pytest.approx(expected, rel=1e-4)


def test_defaults_belong_to_the_experiment():
    assert experiments.default_config("semisupervised").nlabel == 1000
    assert experiments.default_config("label").nlabel == 10000
    cluster = experiments.default_config("cluster")
    assert (cluster.ncluster, cluster.nlabel, cluster.encoder_batchnorm, cluster.input_dropout,
            cluster.logits_batchnorm) == (16, 0, True, 0.2, True)
    assert experiments.default_config("dimreduce").ncluster == 10
    assert experiments.default_config("dimreduce", nlabel=0).ncluster == 20
    vae = experiments.default_config("vae")
    assert vae.variational_encoder and vae.beta1 == 0.9 and vae.learning_rate == 1e-3
    assert experiments.get("cluster").run_name(cluster) == "aae_cluster_k16_z2"


def test_paper_recipe_sets_the_appendix_and_flags_win():
    semi = experiments.default_config("semisupervised", "paper")
    assert (semi.recipe, semi.optimizer, semi.learning_rate, semi.adversarial_learning_rate,
            semi.classification_learning_rate, semi.lr_decay_epochs, semi.batch_size, semi.init_std,
            semi.pixel_range, semi.reconstruction_cost, semi.ncode, semi.input_noise_std,
            semi.encoder_batchnorm) == ("paper", "sgd", 0.01, 0.1, 0.1, (50, 1000), 100, 0.01, "unit", "sum", 10,
                                        0.3, True)
    assert (semi.genw, semi.disw, semi.clsw) == (1.0, 1.0, 1.0)
    likelihood = experiments.default_config("unsupervised", "paper")
    assert (likelihood.ncode, likelihood.prior_scale, likelihood.dist_type, likelihood.parzen_every) == (
        8, 5.0, "gaussian", 1)
    assert experiments.default_config("unsupervised").parzen_every == 0
    cluster = experiments.default_config("cluster", "paper", ncode=3)
    assert (cluster.hidden, cluster.encoder_batchnorm, cluster.input_dropout, cluster.logits_batchnorm,
            cluster.ncode) == (3000, True, 0.2, False, 3)
    reference = experiments.default_config("semisupervised")
    assert (reference.recipe, reference.optimizer, reference.pixel_range, reference.batch_size) == (
        "reference", "adam", "signed", 128)
    with pytest.raises(ValueError, match="no paper recipe"):
        experiments.default_config("vae", "paper")
    with pytest.raises(ValueError, match="unknown recipe"):
        experiments.default_config("unsupervised", "faithful")


def test_unit_pixel_range_reaches_data_decoder_prior_and_optimizers(synthetic_mnist):
    exp = build("semisupervised", synthetic_mnist, ncode=3, nlabel=100, pixel_range="unit", prior_scale=2.0,
                classification_learning_rate=0.3, reconstruction_cost="sum")
    images = exp.data.train_images.numpy()
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_allclose(exp.images(synthetic_mnist.test_images[:2]).numpy()[..., 0],
                               synthetic_mnist.test_images[:2] / 255.0, atol=1e-6)
    decoded = exp.decode(tf.random.normal([6, 3]) * 50, tf.one_hot(tf.range(6), 10)).numpy()
    assert decoded.min() >= 0.0 and decoded.max() <= 1.0
    np.testing.assert_allclose(exp.prior.sample(20000, tf.constant([1, 2])).numpy().std(0), 2.0, rtol=0.05)
    rates = {p.name: float(p.optimizer.learning_rate) for p in exp.phases}
    assert rates["classification"] == pytest.approx(0.3) and rates["reconstruction"] == pytest.approx(2e-4)
    batch = next(iter(exp.train_batches(0)))
    seed = tf.constant([0, 1])
    _, logs = exp.reconstruction(batch, seed)
    out = exp.encode_train(batch["image"], seed)
    recon = exp.decode(out["style_code"], exp.label_code_for_decoder(out, batch["label"]), training=True)
    per_pixel = float(tf.reduce_mean(tf.square(batch["image"] - recon)))
    assert float(logs["reconstruction_loss"]) == pytest.approx(784 * per_pixel, rel=1e-4)


def with_and_without(name, synthetic_mnist, option, **overrides):
    """Two models of ``name`` with the same weights, one with the settings ``option`` and one without.

    No input noise, no dropout: the encoder is the same function in every call, whatever its seed.
    """
    overrides = dict(overrides, input_noise_std=0.0, dropout_keep=1.0)
    exp = build(name, synthetic_mnist, **option, **overrides)
    plain = build(name, synthetic_mnist, **overrides)
    for net in exp.networks:
        plain.networks[net].set_weights(exp.networks[net].get_weights())
    return exp, plain


@pytest.mark.parametrize("name", ["semisupervised", "dimreduce"])
def test_labeled_reconstruction_adds_the_labeled_batch_decoded_with_its_true_label(name, synthetic_mnist):
    exp, plain = with_and_without(name, synthetic_mnist, dict(labeled_reconstruction=True),
                                  ncode=3, nlabel=100, encw=2.0)
    batch = next(iter(exp.train_batches(0)))
    seed = tf.constant([3, 4])
    loss, logs = exp.reconstruction(batch, seed)
    plain_loss, plain_logs = plain.reconstruction(batch, seed)

    def labeled_cost(labels):
        out = exp.encode_train(batch["labeled_image"], seed)
        recon = exp.decode(out["style_code"], tf.one_hot(labels, 10), training=True)
        return float(tf.reduce_mean(tf.square(batch["labeled_image"] - recon)))
    expected = labeled_cost(batch["labeled_label"])
    assert float(logs["labeled_reconstruction_loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(logs["reconstruction_loss"]) == pytest.approx(float(plain_logs["reconstruction_loss"]), rel=1e-6)
    assert float(loss) == pytest.approx(float(plain_loss) + 2.0 * expected, rel=1e-5)
    assert "labeled_reconstruction_loss" not in plain_logs
    assert abs(labeled_cost((batch["labeled_label"] + 1) % 10) - expected) > 1e-6  # the label matters


@pytest.mark.parametrize("name, overrides", [("semisupervised", dict(nlabel=100)), ("dimreduce", dict(nlabel=100)),
                                             ("cluster", dict(input_dropout=0.0))])
@pytest.mark.parametrize("scale", [0.25, 0.0])
def test_label_recon_gradient_scales_what_the_reconstruction_sends_into_y(name, overrides, scale, synthetic_mnist):
    exp, plain = with_and_without(name, synthetic_mnist, dict(label_recon_gradient=scale), ncode=3, **overrides)
    batch = next(iter(exp.train_batches(0)))
    seed = tf.constant([7, 8])

    def loss_and_gradients(model):
        encoder = model.networks["encoder"]
        with tf.GradientTape() as tape:
            loss, _ = model.reconstruction(batch, seed)
        label_head, style_head = encoder.label_head.kernel, encoder.mean_head.kernel
        return [float(loss)] + [g.numpy() for g in tape.gradient(loss, [label_head, style_head])]

    loss, label_grad, style_grad = loss_and_gradients(exp)
    plain_loss, plain_label_grad, plain_style_grad = loss_and_gradients(plain)
    assert loss == pytest.approx(plain_loss, rel=1e-6)  # the decoder sees the same y
    assert np.abs(plain_label_grad).max() > 1e-6  # the paper's y does learn from the reconstruction
    np.testing.assert_allclose(label_grad, scale * plain_label_grad, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(style_grad, plain_style_grad, rtol=1e-4, atol=1e-9)  # the style code's path is kept


@pytest.mark.parametrize("name", ["semisupervised", "cluster"])
def test_label_balance_adds_its_weighted_cost_to_the_generator_update(name, synthetic_mnist):
    exp, plain = with_and_without(name, synthetic_mnist, dict(label_balance=2.5), ncode=3, input_dropout=0.0,
                                  ygenw=1.5, **(dict(nlabel=100) if name == "semisupervised" else {}))
    batch = next(iter(exp.train_batches(0)))
    seed = tf.constant([5, 6])
    loss, logs = exp.generator(batch, seed)
    plain_loss, plain_logs = plain.generator(batch, seed)
    probs = exp.encode_train(batch["image"], seed)["label_code"].numpy()
    mean = probs.mean(axis=0)
    expected = float(np.sum(mean * np.log(mean * probs.shape[1])))
    assert expected > 1e-4  # an untrained encoder's batch does not use its categories evenly
    assert float(logs["label_balance_loss"]) == pytest.approx(expected, rel=1e-4)
    assert float(loss) == pytest.approx(float(plain_loss) + 2.5 * expected, rel=1e-5)
    assert "label_balance_loss" not in plain_logs


@pytest.mark.parametrize("name, overrides, message", [
    ("label", dict(dist_type="gaussian"), "gmm or swiss_roll"),
    ("unsupervised", dict(label_balance=1.0), "--label_balance evens out the label code"),
    ("supervised", dict(label_recon_gradient=0.5), "--label_recon_gradient scales the reconstruction's gradient"),
    ("label", dict(dist_type="gmm", label_balance=1.0), "--label_balance evens out the label code"),
    ("semisupervised", dict(nlabel=0), "needs labeled images"),
    ("cluster", dict(nlabel=10), "leave --nlabel out"),
    ("dimreduce", dict(nlabel=100, ncluster=20), "one cluster per digit"),
    ("vae", dict(variational_encoder=False), "Gaussian (variational) encoder"),
    ("semisupervised", dict(nlabel=15), "multiple of 10"),
    ("unsupervised", dict(labeled_reconstruction=True), "needs one of them with --nlabel above 0"),
    ("cluster", dict(labeled_reconstruction=True), "needs one of them with --nlabel above 0"),
])
def test_configurations_the_model_refuses(name, overrides, message, synthetic_mnist):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(name, synthetic_mnist, **overrides)


def test_vae_test_scores_run_in_inference_mode(synthetic_mnist):
    exp = build("vae", synthetic_mnist, dropout_keep=0.5)
    images = tf.cast(synthetic_mnist.test_images[:40, ..., None], tf.float32) / 127.5 - 1.0
    first, again = exp.test_scores(images, batch_size=16), exp.test_scores(images, batch_size=16)
    assert set(first) == {"reconstruction_loss", "kl_divergence", "negative_elbo"}
    # Dropout at rate 0.5 in training mode would draw new masks on each call; in inference mode it is off.
    assert first == again
    batch = {"image": images[:16]}
    seed = tf.constant([0, 4])
    assert float(exp.negative_elbo(batch, seed)[0]) != float(exp.negative_elbo(batch, seed)[0])


def test_parzen_on_training_images_is_the_estimate_of_those_images(synthetic_mnist, tmp_path):
    from types import SimpleNamespace

    from aae_tf import evaluation, run
    exp = build("unsupervised", synthetic_mnist, ncode=2)
    engine = SimpleNamespace(setup=exp, epoch=tf.Variable(3))
    got = run.parzen(engine, str(tmp_path), synthetic_mnist, n_samples=60, n_validation=30, centers="training")

    def flat(images):
        return exp.unit(images).reshape(len(images), -1)
    expected = evaluation.parzen_log_likelihood(flat(exp.data.train_images[:60].numpy()),
                                                flat(exp.images(exp.data.validation[0][:30])),
                                                flat(exp.images(synthetic_mnist.test_images)))
    assert got["training_centers_log_likelihood"] == pytest.approx(expected["log_likelihood"], rel=1e-6)
    assert got["training_centers_parzen_samples"] == 60 and got["training_centers_parzen_epoch"] == 2
    assert "log_likelihood" not in got
    recon = run.parzen(engine, str(tmp_path), synthetic_mnist, n_samples=60, n_validation=30,
                       centers="reconstructions")
    assert recon["reconstructions_centers_log_likelihood"] != got["training_centers_log_likelihood"]
    with pytest.raises(ValueError, match="centers must be one of"):
        run.parzen(engine, str(tmp_path), synthetic_mnist, centers="test")


def test_gradient_clipping_scales_a_phases_gradients_to_the_global_norm():
    from aae_tf.config import ExperimentConfig
    from aae_tf.experiments.base import make_optimizer
    a, b = tf.Variable([1.0, 2.0]), tf.Variable([5.0])
    grads = [tf.constant([3.0, 0.0]), tf.constant([4.0])]  # global norm 5
    for clip, expected_a, expected_b in ((None, [1.0 - 0.5 * 3, 2.0], [5.0 - 0.5 * 4]),
                                         (0.25, [1.0 - 0.5 * 3 * 0.05, 2.0], [5.0 - 0.5 * 4 * 0.05])):
        a.assign([1.0, 2.0]), b.assign([5.0])
        config = ExperimentConfig(mode="unsupervised", optimizer="sgd", learning_rate=0.5, gradient_clip_norm=clip)
        optimizer = make_optimizer(config, steps_per_epoch=7)
        optimizer.apply_gradients(zip(grads, [a, b]))  # SGD's first step, momentum or not: -rate x gradient
        np.testing.assert_allclose(a.numpy(), expected_a, rtol=1e-6)
        np.testing.assert_allclose(b.numpy(), expected_b, rtol=1e-6)


def test_parzen_is_scored_after_every_kth_epoch_and_then_chooses_the_epoch(synthetic_mnist):
    every_second = build("unsupervised", synthetic_mnist, ncode=3, parzen_every=2)
    keys = {"log_likelihood", "log_likelihood_sem", "validation_log_likelihood", "parzen_sigma"}
    assert keys.isdisjoint(every_second.evaluate(epoch=0))  # epoch 0 is the first: not the second
    assert keys.isdisjoint(every_second.evaluate())  # outside training: never
    scored = every_second.evaluate(epoch=3)
    assert keys <= set(scored) and scored["parzen_samples"] == 10000
    # The same estimate as the --parzen action's on the same test images (the samples' seed is fixed).
    again = every_second.parzen(synthetic_mnist.test_images)
    assert again["log_likelihood"] == pytest.approx(scored["log_likelihood"], rel=1e-6)
    assert every_second.selection_metric == "validation_log_likelihood"
    assert build("unsupervised", synthetic_mnist, ncode=3).selection_metric is None
    assert build("semisupervised", synthetic_mnist, nlabel=100, parzen_every=1).selection_metric == "validation_error"
