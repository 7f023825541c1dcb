"""The fused optimizers: Keras's updates, step for step, and Keras's checkpoints."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from aae_tf import optimizers

CASES = [
    (lambda: keras.optimizers.Adam(0.01, beta_1=0.5), lambda: optimizers.FusedAdam(0.01, beta_1=0.5)),
    (lambda: keras.optimizers.SGD(0.1, momentum=0.9), lambda: optimizers.FusedSGD(0.1, momentum=0.9)),
]


def train(make_optimizer, steps=4):
    """A 3 x 2 weight fitted to a fixed target: the weights after each step."""
    weight = keras.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 10)
    x = tf.constant([[1.0, -2.0, 0.5], [0.3, 0.1, -1.0]])
    target = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    optimizer = make_optimizer()
    optimizer.build([weight])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(tf.matmul(x, weight) - target))
        optimizer.apply_gradients([(tape.gradient(loss, weight), weight)])

    history = []
    for _ in range(steps):
        step()
        history.append(weight.numpy().copy())
    return np.array(history), optimizer, weight


@pytest.mark.parametrize("keras_optimizer, fused_optimizer", CASES)
def test_fused_updates_are_keras_updates(keras_optimizer, fused_optimizer):
    expected, _, _ = train(keras_optimizer)
    got, _, _ = train(fused_optimizer)
    assert not np.allclose(expected[0], expected[-1])  # it trains
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)  # float rounding order only


@pytest.mark.parametrize("keras_optimizer, fused_optimizer", CASES)
def test_checkpoints_are_interchangeable_with_keras(keras_optimizer, fused_optimizer, tmp_path):
    _, trained, weight = train(keras_optimizer, steps=2)
    path = tf.train.Checkpoint(optimizer=trained, weight=weight).write(str(tmp_path / "ckpt"))
    fresh = fused_optimizer()
    other = keras.Variable(np.zeros((3, 2), np.float32))
    fresh.build([other])
    tf.train.Checkpoint(optimizer=fresh, weight=other).read(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(other.numpy(), weight.numpy())
    assert int(fresh.iterations.numpy()) == 2
    assert len(fresh.variables) == len(trained.variables)
    for mine, theirs in zip(fresh.variables, trained.variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
