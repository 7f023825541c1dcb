"""Keras's Adam and momentum SGD, with each variable's update as one fused TensorFlow kernel.

Keras 3 writes an optimizer's update as several element-wise ops per
variable. XLA fuses them; without XLA (mixed bfloat16, where XLA's CPU
backend does not use the bfloat16 units, ``--noxla``, or more than one
replica) each runs on its own, and the updates then cost as much as the
bfloat16 matmuls save (docs/benchmarks.md). ``FusedAdam`` and ``FusedSGD``
run the same update as one ``ResourceApplyAdam`` / ``ResourceApplyKerasMomentum``
op per variable. They are Keras optimizers with Keras's slot variables, so
checkpoints are the same as those of ``keras.optimizers.Adam`` / ``SGD``.
Variables of a ``tf.distribute`` strategy with several copies, AMSGrad and
Nesterov momentum take Keras's own update.
"""

import keras
import tensorflow as tf


def _resource(variable):
    """The tf.Variable under a Keras variable (the update step receives either)."""
    return variable if isinstance(variable, tf.Variable) else variable.value


def _fusable(variable):
    return not isinstance(_resource(variable), tf.distribute.DistributedValues)


class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with one ``ResourceApplyAdam`` per variable (the same update)."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or not _fusable(variable):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_resource(variable).handle, m=_resource(self._momentums[index]).handle,
            v=_resource(self._velocities[index]).handle, beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


class FusedSGD(keras.optimizers.SGD):
    """``keras.optimizers.SGD`` with momentum as one ``ResourceApplyKerasMomentum`` per variable."""

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or self.nesterov or not _fusable(variable):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=_resource(variable).handle, accum=_resource(self.momentums[self._get_variable_index(variable)]).handle,
            lr=tf.cast(learning_rate, dtype), grad=tf.cast(gradient, dtype), momentum=tf.cast(self.momentum, dtype),
            use_nesterov=False)
