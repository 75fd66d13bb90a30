"""Adam: the Adam update with global-norm gradient clipping, as a component.

Kingma and Ba 2015, "Adam: A Method for Stochastic Optimization":
  m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
  x <- x - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
Gradients are first scaled together so their global norm is at most
`max_gradient_norm` (Pascanu et al. 2013). lr is a constant or a schedule over
the optimiser's own update count (learning_rate.py), so a resumed run picks
the schedule up where its checkpoint left it.

The optimiser runs inside a root API's tf.function: `step(loss)` takes
gradients with `tf.gradients` (valid in a graph) of a loss computed earlier in
the same API, so one built API call does the forward pass and the update.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from rlgraph_xflow.components.optimizers.learning_rate import PolynomialDecay, learning_rate_from_spec
from rlgraph_xflow.core import Component, FloatBox, SpecError, api, graph_fn, register
from rlgraph_xflow.core.validation import is_number


@register("adam")
class Adam(Component):
    """Adam over the trainable variables of its target components.

    Args:
        learning_rate: step size (dissertation: 2.5e-3), or a schedule
            mapping {type: polynomial, initial, end, decay_steps, power} over
            the updates made (see learning_rate.py).
        targets: the components to optimise, as Component instances or as
            scope paths (e.g. "agent/encoder", or "encoder" relative to the
            root) resolved at build; they must be in the same component tree
            as the optimiser. Every trainable variable below a target is
            optimised.
        beta1, beta2, epsilon: Adam's constants.
        max_gradient_norm: clip the gradients' global norm to this (null: no
            clipping).

    API:
        step(loss: scalar) -> the gradients' global norm before clipping.
    """

    def __init__(self, learning_rate: Union[float, dict] = 2.5e-3, targets: Optional[Sequence[Union[Component, str]]] = None,
                 beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8, max_gradient_norm: Optional[float] = 0.5,
                 scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "adam"
        self.learning_rate = learning_rate_from_spec(learning_rate, f"{where}.learning_rate")
        checks = (("beta1", beta1, 0.0, 1.0, False), ("beta2", beta2, 0.0, 1.0, False), ("epsilon", epsilon, 0.0, np.inf, False),
                  ("max_gradient_norm", max_gradient_norm, 0.0, np.inf, True))
        for name, value, low, high, optional in checks:
            if optional and value is None:
                continue
            if not is_number(value) or not low < value < high:
                raise SpecError(f"{where}.{name}", f"expected a number in ({low}, {high}){' or null' if optional else ''}, got {value!r}")
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.max_gradient_norm = None if max_gradient_norm is None else float(max_gradient_norm)
        targets = [] if targets is None else targets
        if not isinstance(targets, (list, tuple)) or any(not isinstance(t, (Component, str)) for t in targets):
            raise SpecError(f"{where}.targets", f"expected a list of components or scope paths, got {targets!r}")
        self.targets = list(targets)
        self.target_variables: list = []

    # Variables ---------------------------------------------------------------
    def _root(self) -> Component:
        component = self
        while component.parent is not None:
            component = component.parent
        return component

    def _resolve_targets(self) -> list:
        root = self._root()
        by_scope = {c.global_scope: c for c in root.components_recursive()}
        resolved = []
        for index, target in enumerate(self.targets):
            where = f"{self.key_path or self.global_scope}.targets[{index}]"
            if isinstance(target, Component):
                if target.global_scope not in by_scope or by_scope[target.global_scope] is not target:
                    raise SpecError(where, f"component '{target.global_scope}' is not in the optimiser's component tree (root '{root.scope}')")
                resolved.append(target)
                continue
            found = by_scope.get(target) or by_scope.get(f"{root.scope}/{target}")
            if found is None:
                raise SpecError(where, f"no component at scope {target!r}; components in the tree: {sorted(by_scope)}")
            resolved.append(found)
        return resolved

    def create_variables(self, input_spaces):
        variables, seen = [], set()
        for target in self._resolve_targets():
            # Targets may be built after the optimiser; creating their
            # variables here (idempotent) fixes the slot shapes either way.
            for component in reversed(target.components_recursive()):
                component.ensure_variables()
            for name, variable in target.variables_recursive().items():
                if variable.trainable and id(variable) not in seen:
                    seen.add(id(variable))
                    variables.append((name, variable))
        if not variables:
            raise SpecError(f"{self.key_path or self.global_scope}.targets",
                            "the optimiser has no trainable variables to update; name the components it optimises")
        self.target_variables = variables
        for name, variable in variables:
            dtype = variable.dtype.as_numpy_dtype
            self.get_variable(f"first_moment/{name}", variable.shape, dtype=dtype, trainable=False)
            self.get_variable(f"second_moment/{name}", variable.shape, dtype=dtype, trainable=False)
        self.step_count = self.get_variable("step_count", (), dtype="int64", trainable=False)

    # API ---------------------------------------------------------------------
    @api
    def step(self, loss):
        """One Adam update of the target variables along -grad(loss); returns the gradients' global norm."""
        return self._graph_fn_step(loss)

    @graph_fn
    def _graph_fn_step(self, loss):
        import tensorflow as tf

        names = [name for name, _ in self.target_variables]
        variables = [variable for _, variable in self.target_variables]
        gradients = tf.gradients(loss, variables)
        # Variables the loss does not depend on are left alone (no zero-gradient
        # update, which would still move them through Adam's momentum).
        used = [(name, variable, gradient) for name, variable, gradient in zip(names, variables, gradients) if gradient is not None]
        if not used:
            raise ValueError(f"{self.global_scope}: the loss depends on none of the target variables {names}")
        dense_gradients = [tf.convert_to_tensor(gradient) for _, _, gradient in used]
        global_norm = tf.linalg.global_norm(dense_gradients)
        if self.max_gradient_norm is not None:
            dense_gradients, _ = tf.clip_by_global_norm(dense_gradients, self.max_gradient_norm, use_norm=global_norm)
        step = self.step_count.assign_add(1)
        # Bias corrections in float64: in float32, 1 - 0.999 ** t is off by
        # about 1e-5 relative for small t.
        t = tf.cast(step, tf.float64)
        first_correction = 1.0 - tf.pow(tf.constant(self.beta1, tf.float64), t)
        second_correction = 1.0 - tf.pow(tf.constant(self.beta2, tf.float64), t)
        learning_rate = self.learning_rate
        if isinstance(learning_rate, PolynomialDecay):
            # `step` counts this update; the schedule reads the updates made
            # before it, so the first update takes `initial`, as Keras's
            # schedules do with optimizer.iterations.
            learning_rate = learning_rate.rate(step - 1)
        updates = []
        for (name, variable, _), gradient in zip(used, dense_gradients):
            first = self.variables[f"first_moment/{name}"]
            second = self.variables[f"second_moment/{name}"]
            new_first = first.assign(self.beta1 * first + (1.0 - self.beta1) * gradient)
            new_second = second.assign(self.beta2 * second + (1.0 - self.beta2) * tf.square(gradient))
            first_unbiased = new_first / tf.cast(first_correction, gradient.dtype)
            second_unbiased = new_second / tf.cast(second_correction, gradient.dtype)
            rate = learning_rate if isinstance(learning_rate, float) else tf.cast(learning_rate, gradient.dtype)
            update = rate * first_unbiased / (tf.sqrt(second_unbiased) + self.epsilon)
            updates.append(variable.assign_sub(update))
        with tf.control_dependencies(updates):
            return tf.identity(global_norm)

    @_graph_fn_step.output_spaces
    def _graph_fn_step(self, loss):
        self.require(isinstance(loss, FloatBox) and loss.shape == () and not loss.batch_rank and not loss.time_rank,
                     "loss", "a scalar FloatBox (reduce the loss before the update)", loss)
        return FloatBox(())
