"""Component composition, scoping, variables and device placement."""
import numpy as np
import pytest

from rlgraph_xflow.components.layers import Dense, MLP
from rlgraph_xflow.core import Component, ComponentTest, FloatBox, api, graph_fn


class Scale(Component):
    """Multiplies by a variable initialised to `factor`; counts creations."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.creations = 0

    def create_variables(self, input_spaces):
        self.creations += 1
        width = input_spaces["inputs"].shape[-1]
        self.weight = self.get_variable("weight", (width,), initializer=lambda shape, dtype: np.full(shape, self.factor, dtype))

    @api
    def apply(self, inputs):
        return self._graph_fn_scale(inputs)

    @graph_fn
    def _graph_fn_scale(self, inputs):
        return inputs * self.weight

    @_graph_fn_scale.output_spaces
    def _graph_fn_scale(self, inputs):
        return inputs


class Twice(Component):
    """Calls the same sub-component twice: its variables must exist once."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale = Scale(3.0)
        self.add_components(self.scale)

    @api
    def apply(self, inputs):
        return self.scale.apply(self.scale.apply(inputs))


def test_scoped_names_are_parent_slash_child():
    mlp = MLP([4, 2], scope="net")
    assert [c.global_scope for c in mlp.components_recursive()] == ["net", "net/dense_0", "net/dense_1"]


def test_duplicate_sub_component_scope_is_refused():
    parent = Component(scope="parent")
    parent.add_components(Dense(2, scope="layer"))
    with pytest.raises(ValueError, match="already has a sub-component named 'layer'"):
        parent.add_components(Dense(3, scope="layer"))


def test_a_component_cannot_have_two_parents():
    child = Dense(2, scope="child")
    Component(scope="a").add_components(child)
    with pytest.raises(ValueError, match="already has a parent"):
        Component(scope="b").add_components(child)


def test_variables_are_created_once_when_a_component_is_called_twice():
    twice = Twice()
    test = ComponentTest(twice, {"inputs": FloatBox((3,), batch_rank=True)})
    assert twice.scale.creations == 1
    assert list(twice.variables_recursive()) == ["twice/scale/weight"]
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    test.test(("apply", x), expected_outputs=x * 9.0)
    twice.scale.ensure_variables()
    assert twice.scale.creations == 1


def test_get_variable_is_idempotent_and_refuses_a_new_shape():
    layer = Dense(2)
    first = layer.get_variable("w", (3, 2))
    assert layer.get_variable("w", (3, 2)) is first
    with pytest.raises(ValueError, match=r"exists with shape \(3, 2\), requested \(4, 2\)"):
        layer.get_variable("w", (4, 2))


def test_device_placement_is_inherited_by_sub_components():
    mlp = MLP([2], device="/CPU:0")
    ComponentTest(mlp, {"inputs": FloatBox((3,), batch_rank=True)})
    assert mlp.layers[0].effective_device == "/CPU:0"
    for variable in mlp.variables_recursive().values():
        assert variable.device.endswith("CPU:0")


def test_api_names_lists_only_api_methods():
    assert Twice.api_names() == ["apply"]
    assert "create_variables" not in Dense.api_names()


def test_scope_with_a_slash_is_refused():
    with pytest.raises(ValueError, match="without '/'"):
        Dense(2, scope="a/b")
