"""ComponentTest: build one component in isolation and call its APIs.

Classes in this file:
  ComponentTest: traces and builds a single component from input spaces,
    runs `test(("api", inputs), expected_outputs=..., decimals=...)` and reads
    variable values, so every component can be unit-tested against a numpy
    reference (RLgraph's sub-component testing).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import tree

from rlgraph_xflow.core.executor import Executor


class ComponentTest:
    """Builds `component` alone.

    Args:
        component: the component under test (it becomes a root).
        input_spaces: argument name -> Space for the APIs to build.
        apis: which APIs to build (default: all of them).
    """

    def __init__(self, component, input_spaces: Mapping[str, Any], apis: Optional[Sequence[str]] = None):
        self.component = component
        self.executor = Executor(component, input_spaces, apis)

    def test(self, call, expected_outputs: Any = None, decimals: int = 7):
        """Calls an API and, when `expected_outputs` is given, compares.

        Args:
            call: ("api_name", inputs) where inputs is one value, or a tuple
                of positional values; or just "api_name".
            expected_outputs: the expected result (same nesting), or None.
            decimals: places compared, as in numpy's assert_almost_equal.

        Returns:
            The outputs as numpy.
        """
        if isinstance(call, str):
            api_name, inputs = call, ()
        else:
            api_name, inputs = call
        # Only a plain tuple lists positional arguments: a namedtuple (e.g. a
        # GraphsTuple) is one value.
        if type(inputs) is not tuple:
            inputs = (inputs,)
        outputs = self.executor.execute(api_name, *inputs)
        if expected_outputs is not None:
            tree.assert_same_structure(expected_outputs, outputs, check_types=False)
            for expected, actual in zip(tree.flatten(expected_outputs), tree.flatten(outputs)):
                np.testing.assert_array_almost_equal(actual, expected, decimal=decimals)
        return outputs

    def read_variable_values(self, *names: str):
        """Values of the named variables (full scoped names), or all of them."""
        values = self.executor.variable_values()
        if not names:
            return values
        unknown = [name for name in names if name not in values]
        if unknown:
            raise KeyError(f"no variables {unknown}; known: {sorted(values)}")
        return [values[name] for name in names] if len(names) > 1 else values[names[0]]
