"""Component: the unit agents are composed of.

Classes and functions in this file:
  Component: owns sub-components, API methods and graph functions, and its
    variables (created lazily, once, when its input spaces are known).
  api: decorator marking a method as part of a component's API. API bodies
    only route values between APIs and graph functions.
  graph_fn: decorator marking the functions that write backend (TF) ops. Each
    declares how its output spaces follow from its input spaces, with
    `@<graph_fn>.output_spaces`, so the trace phase can check spaces before
    any TF op exists. Graph functions run without AutoGraph unless they ask
    for it with `@graph_fn(autograph=True)`; `@graph_fn(share_trace=True)`
    traces one once for all root APIs.
  SpaceMismatchError: a space check failed during tracing.
  GraphFunctionControlFlowError: a graph function used Python control flow
    on a tensor without asking for AutoGraph.

The same API body runs twice: in the trace phase with `SpaceRecord`s (see
meta_graph.py), and inside `tf.function` with tensors. Which one is decided by
the active trace context, never by inspecting the call stack.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import re
from typing import Any, Callable, Optional

import numpy as np

from rlgraph_xflow.core import meta_graph as tracing
from rlgraph_xflow.core.spaces import Space, SpaceError


class SpaceMismatchError(SpaceError):
    """A component got an input whose space it cannot take.

    Attributes name where it happened: component (scoped name), api,
    argument, expected (a description), actual (the Space) and call_path.
    """

    def __init__(self, component: str, api: str, argument: str, expected: str, actual: Any, call_path: str):
        self.component, self.api, self.argument = component, api, argument
        self.expected, self.actual, self.call_path = expected, actual, call_path
        super().__init__(
            f"space mismatch in component '{component}', API '{api}', argument '{argument}': "
            f"expected {expected}, got {actual!r}. Call path: {call_path}"
        )


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def api(method: Callable) -> Callable:
    """Marks `method` as an API of its component.

    In the trace phase the call is recorded in the meta-graph with the spaces
    of its arguments and results; otherwise the method simply runs.
    """

    @functools.wraps(method)
    def wrapper(self: "Component", *args, **kwargs):
        context = tracing.active_trace()
        if context is None:
            return method(self, *args, **kwargs)
        return context.call_api(self, method, args, kwargs)

    wrapper.is_api = True
    return wrapper


class GraphFunctionControlFlowError(TypeError):
    """A graph function branched or looped on a tensor without AutoGraph.

    Attributes: component (scoped name) and graph_fn (its name).
    """

    def __init__(self, component: str, graph_function: str, cause: Exception):
        self.component, self.graph_fn = component, graph_function
        super().__init__(
            f"graph_fn '{graph_function}' of component '{component}' used a tensor in Python control flow "
            f"(if/while/for on a tensor, or bool(tensor)); graph functions run without AutoGraph. Write the "
            f"control flow with tf.cond / tf.while_loop / tf.scan, or declare @graph_fn(autograph=True). "
            f"TensorFlow said: {cause}"
        )


class GraphFunction:
    """Descriptor made by @graph_fn: the TF function plus its space rule.

    Args:
        function: the graph function, `function(component, *inputs)`.
        autograph: convert the function with AutoGraph when it runs inside a
            built `tf.function`, so Python `if`/`for`/`while` on tensors become
            graph control flow. Off by default: AutoGraph re-parses the source
            of every function reached from the graph function (Sonnet and
            graph_nets modules included), which dominated the build time of
            agents whose graph functions only use Python control flow on Python
            values.
        share_trace: trace the function once per component and input
            signature into a `tf.function` of its own, which every root API
            then calls, instead of tracing its ops again into each root API
            that reaches it. Worth it for a large function that several root
            APIs call (an encoder); gradients flow through the call as usual.
    """

    def __init__(self, function: Callable, autograph: bool = False, share_trace: bool = False):
        for option, value in (("autograph", autograph), ("share_trace", share_trace)):
            if not isinstance(value, bool):
                raise TypeError(f"graph_fn '{function.__name__}': {option} must be True or False, got {value!r}")
        self.function = function
        self.name = function.__name__
        self.autograph = autograph
        self.share_trace = share_trace
        self.space_rule: Optional[Callable] = None
        self._converted_function: Optional[Callable] = None
        functools.update_wrapper(self, function)

    def output_spaces(self, space_rule: Callable) -> "GraphFunction":
        """Registers `space_rule(self, *input_spaces) -> output space(s)`.

        The rule checks its inputs with `Component.require` and returns a Space
        or a tuple/dict of Spaces mirroring what the graph function returns.
        """
        self.space_rule = space_rule
        return self

    def __set_name__(self, owner, name):
        self.attribute_name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return functools.partial(self._call, instance)

    def _call(self, component: "Component", *args, **kwargs):
        context = tracing.active_trace()
        if context is not None:
            return context.call_graph_fn(component, self, args, kwargs)
        if self.share_trace and _inside_tf_function():
            with component.placement():
                return self._shared_function(component)(*args, **kwargs)
        return self._run(component, *args, **kwargs)

    def _run(self, component: "Component", *args, **kwargs):
        """Writes the function's ops (the body of every way of calling it)."""
        with component.placement():
            if self.autograph:
                return self._autograph_function()(component, *args, **kwargs)
            try:
                return self.function(component, *args, **kwargs)
            except GraphFunctionControlFlowError:
                raise
            except TypeError as error:
                if _is_control_flow_on_tensor(error):
                    raise GraphFunctionControlFlowError(component.global_scope, self.name, error) from error
                raise

    def _autograph_function(self) -> Callable:
        if self._converted_function is None:
            import tensorflow as tf

            self._converted_function = tf.autograph.to_graph(self.function)
        return self._converted_function

    def _shared_function(self, component: "Component") -> Callable:
        # Kept on the component (not on this descriptor, which its class
        # shares with every instance), so the traced function lives and dies
        # with the component whose variables it captures.
        shared_functions = vars(component).setdefault("_shared_graph_functions", {})
        shared = shared_functions.get(self)
        if shared is None:
            import tensorflow as tf

            def body(*args, **kwargs):
                return self._run(component, *args, **kwargs)

            body.__name__ = f"{component.global_scope}_{self.name}".replace("/", "_")
            # AutoGraph, where asked for, is applied by _run; the wrapper
            # itself only forwards arguments.
            shared = tf.function(body, autograph=False)
            shared_functions[self] = shared
        return shared


def _inside_tf_function() -> bool:
    import tensorflow as tf

    return tf.inside_function()


def _is_control_flow_on_tensor(error: TypeError) -> bool:
    import tensorflow as tf

    return isinstance(error, tf.errors.OperatorNotAllowedInGraphError)


def graph_fn(function: Optional[Callable] = None, *, autograph: bool = False, share_trace: bool = False):
    """Marks `function` as a graph function: the only place TF ops are written.

    Use as `@graph_fn`, or with options, e.g. `@graph_fn(autograph=True)` for
    a graph function that branches or loops on tensors with Python
    `if`/`for`/`while`.

    Args:
        function: the decorated function (given when used without options).
        autograph: convert the function with AutoGraph (see GraphFunction).
        share_trace: trace it once into a tf.function shared by all root APIs
            (see GraphFunction).

    Returns:
        A GraphFunction, or a decorator making one.
    """
    if function is None:
        return lambda decorated: GraphFunction(decorated, autograph=autograph, share_trace=share_trace)
    if not callable(function):
        raise TypeError(f"graph_fn decorates a function, got {function!r}; use @graph_fn or @graph_fn(option=...)")
    return GraphFunction(function, autograph=autograph, share_trace=share_trace)


class Component:
    """A node of an agent's component graph.

    Args:
        scope: name of this component among its siblings (defaults to the
            registered type name, or the class name in snake case).
        device: optional TF device string for this component's variables and
            graph functions (inherited by sub-components that set none).
        key_path: where the component's spec sits in the config; set by
            from_spec so errors point at the YAML key.

    Subclasses add sub-components in __init__ with `add_components`, write
    `@api` methods and `@graph_fn` functions, and create variables in
    `create_variables(input_spaces)` via `get_variable`.
    """

    def __init__(self, scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        default_scope = getattr(type(self), "registered_name", None) or _snake_case(type(self).__name__)
        self.scope = scope or default_scope
        if "/" in self.scope or not self.scope:
            raise ValueError(f"component scope must be a non-empty name without '/', got {self.scope!r}")
        self.device = device
        self.key_path = key_path
        self.parent: Optional[Component] = None
        self.sub_components: "collections.OrderedDict[str, Component]" = collections.OrderedDict()
        self.variables: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
        # Spaces seen by the trace phase: argument name -> Space, over all APIs
        # and graph functions of this component.
        self.input_spaces: dict[str, Space] = {}
        self.variables_created = False

    # Composition -------------------------------------------------------------
    def add_components(self, *components: "Component") -> None:
        """Makes `components` children of this one; scopes must be unique."""
        for component in components:
            if not isinstance(component, Component):
                raise TypeError(f"{self.global_scope}: add_components takes Components, got {component!r}")
            if component.parent is not None:
                raise ValueError(f"component '{component.global_scope}' already has a parent")
            if component.scope in self.sub_components:
                raise ValueError(f"component '{self.global_scope}' already has a sub-component named '{component.scope}'")
            component.parent = self
            self.sub_components[component.scope] = component

    @property
    def global_scope(self) -> str:
        return self.scope if self.parent is None else f"{self.parent.global_scope}/{self.scope}"

    def components_recursive(self) -> list["Component"]:
        """This component and all below it, parents before children."""
        found = [self]
        for child in self.sub_components.values():
            found.extend(child.components_recursive())
        return found

    @classmethod
    def api_names(cls) -> list[str]:
        return sorted(name for name in dir(cls) if getattr(getattr(cls, name), "is_api", False))

    # Placement ---------------------------------------------------------------
    @property
    def effective_device(self) -> Optional[str]:
        if self.device is not None or self.parent is None:
            return self.device
        return self.parent.effective_device

    @contextlib.contextmanager
    def placement(self):
        """Device and name scope for this component's TF ops and variables."""
        import tensorflow as tf

        device = self.effective_device
        with tf.name_scope(self.global_scope.replace("/", "_") + "/"):
            if device is None:
                yield
            else:
                with tf.device(device):
                    yield

    # Variables ---------------------------------------------------------------
    def create_variables(self, input_spaces: dict[str, Space]) -> None:
        """Creates this component's variables; override where there are any.

        Args:
            input_spaces: argument name -> Space, as seen by the trace phase
                for this component's APIs and graph functions.
        """

    def ensure_variables(self) -> None:
        """Calls create_variables once (idempotent)."""
        if self.variables_created:
            return
        with self.placement():
            self.create_variables(dict(self.input_spaces))
        self.variables_created = True

    def get_variable(self, name: str, shape, dtype="float32", initializer: Optional[Callable] = None, trainable: bool = True):
        """Returns variable `name`, creating it on first request.

        A second request with the same shape returns the same variable; a
        different shape is an error, so variables are never duplicated.
        """
        import tensorflow as tf

        shape = tuple(int(d) for d in shape)
        existing = self.variables.get(name)
        if existing is not None:
            if tuple(existing.shape) != shape:
                raise ValueError(f"variable '{self.global_scope}/{name}' exists with shape {tuple(existing.shape)}, requested {shape}")
            return existing
        if initializer is None:
            value = np.zeros(shape, dtype=np.dtype(dtype))
        else:
            value = initializer(shape, np.dtype(dtype))
        device = self.effective_device
        with contextlib.ExitStack() as stack:
            if device is not None:
                stack.enter_context(tf.device(device))
            variable = tf.Variable(value, dtype=tf.as_dtype(np.dtype(dtype)), trainable=trainable, name=f"{self.global_scope}/{name}".replace("/", "_"))
        self.variables[name] = variable
        return variable

    def variables_recursive(self) -> "collections.OrderedDict[str, Any]":
        """All variables of this component and below, by full scoped name."""
        found = collections.OrderedDict()
        for component in self.components_recursive():
            for name, variable in component.variables.items():
                found[f"{component.global_scope}/{name}"] = variable
        return found

    def trainable_variables(self) -> list:
        return [v for v in self.variables_recursive().values() if v.trainable]

    # Trace-time checks -------------------------------------------------------
    def require(self, condition: bool, argument: str, expected: str, actual: Any) -> None:
        """Raises SpaceMismatchError (with where and why) unless `condition`."""
        if not condition:
            context = tracing.active_trace()
            api_name = context.current_api_name() if context else "?"
            call_path = context.call_path() if context else self.global_scope
            raise SpaceMismatchError(self.global_scope, api_name, argument, expected, actual, call_path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.global_scope}')"
