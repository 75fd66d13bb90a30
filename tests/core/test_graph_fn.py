"""Graph function options: AutoGraph on request, and one trace shared by all root APIs."""
import numpy as np
import pytest

from rlgraph_xflow.core import (Component, ComponentTest, Executor, FloatBox, GraphFunctionControlFlowError, api,
                                graph_fn)

SPACE = FloatBox((3,), batch_rank=True)


def _sign_by_total(component, inputs):
    # A Python `if` on a tensor: graph control flow only with AutoGraph.
    import tensorflow as tf

    if tf.reduce_sum(inputs) > 0.0:
        result = inputs
    else:
        result = -inputs
    return result


def _same_space(component, inputs):
    return inputs


class SignWithAutograph(Component):
    @api
    def apply(self, inputs):
        return self._graph_fn_sign(inputs)

    _graph_fn_sign = graph_fn(autograph=True)(_sign_by_total).output_spaces(_same_space)


class SignWithoutAutograph(Component):
    @api
    def apply(self, inputs):
        return self._graph_fn_sign(inputs)

    _graph_fn_sign = graph_fn(_sign_by_total).output_spaces(_same_space)


def test_a_graph_fn_that_asks_for_autograph_branches_on_tensors():
    test = ComponentTest(SignWithAutograph(), {"inputs": SPACE})
    positive = np.array([[1.0, -0.5, 2.0]], np.float32)
    negative = np.array([[-1.0, 0.5, -2.0], [0.0, 0.0, -1.0]], np.float32)
    test.test(("apply", positive), expected_outputs=positive)
    test.test(("apply", negative), expected_outputs=-negative)


def test_python_control_flow_on_a_tensor_without_autograph_names_the_graph_fn_and_the_fix():
    with pytest.raises(GraphFunctionControlFlowError) as caught:
        Executor(SignWithoutAutograph(scope="signer"), {"inputs": SPACE})
    error = caught.value
    assert (error.component, error.graph_fn) == ("signer", "_sign_by_total")
    assert "graph_fn '_sign_by_total' of component 'signer'" in str(error)
    assert "@graph_fn(autograph=True)" in str(error) and "tf.cond" in str(error)


def _features(component, inputs):
    # Runs once per TF trace of the graph function: counts traces.
    component.feature_traces += 1
    return (inputs * component.weight) ** 2


def _total(component, features):
    import tensorflow as tf

    return tf.reduce_sum(features)


def _scalar_space(component, features):
    return FloatBox(())


def _loss_space(component, loss):
    return loss


def _gradient_step(component, loss):
    import tensorflow as tf

    (gradient,) = tf.gradients(loss, [component.weight])
    with tf.control_dependencies([component.weight.assign_sub(component.LEARNING_RATE * gradient)]):
        return tf.identity(loss)


class Features(Component):
    """(x * w)^2 with w = [1, 2, 3]; `descend` takes one gradient step on their sum."""

    LEARNING_RATE = 0.01

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.feature_traces = 0

    def create_variables(self, input_spaces):
        width = input_spaces["inputs"].shape[-1]
        self.weight = self.get_variable("weight", (width,), initializer=lambda shape, dtype: np.arange(1, width + 1).astype(dtype))

    @api
    def features(self, inputs):
        return self._graph_fn_features(inputs)

    @api
    def total(self, inputs):
        return self._graph_fn_total(self._graph_fn_features(inputs))

    @api
    def descend(self, inputs):
        return self._graph_fn_gradient_step(self._graph_fn_total(self._graph_fn_features(inputs)))

    _graph_fn_total = graph_fn(_total).output_spaces(_scalar_space)
    _graph_fn_gradient_step = graph_fn(_gradient_step).output_spaces(_loss_space)


class SharedFeatures(Features):
    _graph_fn_features = graph_fn(share_trace=True)(_features).output_spaces(_same_space)


class InlinedFeatures(Features):
    _graph_fn_features = graph_fn(_features).output_spaces(_same_space)


def test_a_shared_graph_fn_is_traced_once_for_all_root_apis():
    shared, inlined = SharedFeatures(), InlinedFeatures()
    ComponentTest(shared, {"inputs": SPACE})
    ComponentTest(inlined, {"inputs": SPACE})
    assert shared.feature_traces == 1
    assert inlined.feature_traces == 3


def test_a_shared_graph_fn_computes_and_passes_gradients_like_an_inlined_one():
    x = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0]], np.float32)
    weight = np.array([1.0, 2.0, 3.0], np.float32)
    # d/dw sum((x w)^2) = sum over the batch of 2 x^2 w.
    stepped = weight - Features.LEARNING_RATE * (2.0 * (x ** 2).sum(axis=0) * weight)
    for component in (SharedFeatures(), InlinedFeatures()):
        test = ComponentTest(component, {"inputs": SPACE})
        test.test(("features", x), expected_outputs=(x * weight) ** 2, decimals=5)
        test.test(("total", x), expected_outputs=((x * weight) ** 2).sum(), decimals=4)
        test.test(("descend", x), expected_outputs=((x * weight) ** 2).sum(), decimals=4)
        np.testing.assert_allclose(test.read_variable_values(f"{component.scope}/weight"), stepped, rtol=1e-6)
        # The shared function reads the variable it captured: the update shows.
        test.test(("features", x), expected_outputs=(x * stepped) ** 2, decimals=4)


@pytest.mark.parametrize("make, message", [
    (lambda: graph_fn(autograph="yes")(_features), r"graph_fn '_features': autograph must be True or False, got 'yes'"),
    (lambda: graph_fn(share_trace=1)(_features), r"graph_fn '_features': share_trace must be True or False, got 1"),
    (lambda: graph_fn(3), r"graph_fn decorates a function, got 3"),
])
def test_bad_graph_fn_options_are_refused(make, message):
    with pytest.raises(TypeError, match=message):
        make()
