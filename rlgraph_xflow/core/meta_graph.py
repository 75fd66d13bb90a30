"""The trace phase: calling every root API with space records.

Classes and functions in this file:
  SpaceRecord: stands in for a value during tracing; carries its Space.
  MetaGraph: what tracing found: API and graph_fn nodes per component, call
    edges labelled with spaces, and each root API's input and output spaces.
    Exports to DOT.
  TraceError: a root API cannot be traced (missing input spaces, a graph_fn
    without a space rule, arithmetic on records...).
  trace: runs the trace phase over a composed component tree.

Nothing here imports TensorFlow: tracing checks spaces before any TF op
exists (the idea of RLgraph's meta-graph and Sonnet's dry build).
"""
from __future__ import annotations

import contextvars
import dataclasses
import inspect
from typing import Any, Mapping, Optional, Sequence

import tree

from rlgraph_xflow.core.spaces import Dict, Space, SpaceError, Tuple

_ACTIVE_TRACE: contextvars.ContextVar[Optional["TraceContext"]] = contextvars.ContextVar("rlgraph_xflow_trace", default=None)


def active_trace() -> Optional["TraceContext"]:
    """The trace in progress, or None when APIs run for real."""
    return _ACTIVE_TRACE.get()


class TraceError(SpaceError):
    """The component graph cannot be traced; the message says where and why."""


class SpaceRecord:
    """A value during tracing: its space and the meta-graph node that made it."""

    def __init__(self, space: Space, producer: str):
        self.space = space
        self.producer = producer

    def __getitem__(self, key):
        if isinstance(self.space, (Dict, Tuple)):
            return SpaceRecord(self.space[key], self.producer)
        raise TraceError(f"cannot index a record of space {self.space!r} (from {self.producer}); only Dict and Tuple records are indexable")

    def _refuse(self, *unused):
        raise TraceError(
            f"an API body computed with a value of space {self.space!r} (from {self.producer}); "
            "API bodies only route values: write the computation in a @graph_fn"
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _refuse
    __neg__ = __bool__ = __lt__ = __gt__ = __le__ = __ge__ = __matmul__ = _refuse

    def __repr__(self):
        return f"SpaceRecord({self.space!r})"


@dataclasses.dataclass
class MetaNode:
    """One API or graph function of one component."""

    node_id: str
    component: str
    kind: str  # "api", "graph_fn" or "input"
    name: str
    input_spaces: dict = dataclasses.field(default_factory=dict)
    output_spaces: Any = None


@dataclasses.dataclass
class MetaEdge:
    source: str
    target: str
    label: str


@dataclasses.dataclass
class RootApi:
    """A root API as built: argument names and spaces, and output spaces."""

    name: str
    argument_names: list
    input_spaces: dict
    output_spaces: Any


class MetaGraph:
    """Nodes (component APIs and graph functions) and the calls between them."""

    def __init__(self, root_scope: str):
        self.root_scope = root_scope
        self.nodes: dict[str, MetaNode] = {}
        self.edges: list[MetaEdge] = []
        self.root_apis: dict[str, RootApi] = {}

    def node(self, component: str, kind: str, name: str) -> MetaNode:
        node_id = f"{component}.{name}" if kind != "input" else f"input:{name}"
        if node_id not in self.nodes:
            self.nodes[node_id] = MetaNode(node_id, component, kind, name)
        return self.nodes[node_id]

    def add_edge(self, source: str, target: str, label: str) -> None:
        edge = MetaEdge(source, target, label)
        if edge not in self.edges:
            self.edges.append(edge)

    def to_dot(self) -> str:
        """The meta-graph in Graphviz DOT: components as nested clusters."""
        by_component: dict[str, list[MetaNode]] = {}
        for node in self.nodes.values():
            by_component.setdefault(node.component, []).append(node)
        scopes = sorted(scope for scope in by_component if scope)
        lines = ["digraph meta_graph {", "  rankdir=LR;", "  compound=true;", '  node [fontname="Helvetica"];']
        for node in by_component.get("", []):
            lines.append(f"  {_quote(node.node_id)} [label={_quote(node.name)}, shape=ellipse];")
        lines.extend(self._dot_cluster(self.root_scope, by_component, scopes, indent="  "))
        for edge in self.edges:
            lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)} [label={_quote(edge.label)}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _dot_cluster(self, scope: str, by_component, scopes, indent: str) -> list[str]:
        lines = [f"{indent}subgraph {_quote('cluster_' + scope)} {{", f"{indent}  label={_quote(scope.split('/')[-1])};"]
        for node in by_component.get(scope, []):
            shape = "box" if node.kind == "api" else "box, style=rounded"
            lines.append(f"{indent}  {_quote(node.node_id)} [label={_quote(node.name)}, shape={shape}];")
        children = [s for s in scopes if s.startswith(scope + "/") and "/" not in s[len(scope) + 1:]]
        # Intermediate components with no traced node still get a cluster.
        for candidate in scopes:
            if candidate.startswith(scope + "/"):
                child = scope + "/" + candidate[len(scope) + 1:].split("/")[0]
                if child not in children:
                    children.append(child)
        for child in sorted(children):
            lines.extend(self._dot_cluster(child, by_component, scopes, indent + "  "))
        lines.append(f"{indent}}}")
        return lines


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def describe_spaces(spaces: Any) -> str:
    """Short text of a nest of spaces, for edge labels and summaries."""
    if isinstance(spaces, Mapping):
        return ", ".join(f"{key}: {describe_spaces(value)}" for key, value in spaces.items())
    if isinstance(spaces, (tuple, list)):
        return "(" + ", ".join(describe_spaces(value) for value in spaces) + ")"
    return repr(spaces)


class TraceContext:
    """State of one trace: the meta-graph being recorded and the call stack."""

    def __init__(self, graph: MetaGraph):
        self.graph = graph
        self.stack: list[MetaNode] = []

    def current_api_name(self) -> str:
        for node in reversed(self.stack):
            if node.kind == "api":
                return node.name
        return "?"

    def call_path(self) -> str:
        return " -> ".join(f"{node.component or '<input>'}.{node.name}" for node in self.stack)

    def _bind(self, function, component, args, kwargs, what: str) -> dict:
        try:
            bound = inspect.signature(function).bind(component, *args, **kwargs)
        except TypeError as error:
            raise TraceError(f"{what} of component '{component.global_scope}' called with bad arguments: {error}. Call path: {self.call_path()}") from None
        bound.apply_defaults()
        return {name: value for name, value in list(bound.arguments.items())[1:]}

    def _spaces_of(self, arguments: dict, component, what: str) -> dict:
        spaces = {}
        for name, value in arguments.items():
            def space_of(leaf):
                if isinstance(leaf, SpaceRecord):
                    return leaf.space
                if leaf is None or isinstance(leaf, (bool, int, float, str)):
                    return leaf
                raise TraceError(
                    f"{what} of component '{component.global_scope}', argument '{name}': expected a traced value "
                    f"or a Python constant, got {type(leaf).__name__}. Call path: {self.call_path()}"
                )
            spaces[name] = tree.map_structure(space_of, value)
        return spaces

    def _link(self, node: MetaNode, spaces: dict) -> None:
        if self.stack:
            self.graph.add_edge(self.stack[-1].node_id, node.node_id, describe_spaces(spaces))

    def call_api(self, component, method, args, kwargs):
        arguments = self._bind(method, component, args, kwargs, f"API '{method.__name__}'")
        spaces = self._spaces_of(arguments, component, f"API '{method.__name__}'")
        node = self.graph.node(component.global_scope, "api", method.__name__)
        node.input_spaces = spaces
        self._link(node, spaces)
        _remember_input_spaces(component, spaces)
        self.stack.append(node)
        try:
            outputs = method(component, **arguments)
        finally:
            self.stack.pop()
        node.output_spaces = self._output_spaces(outputs, component, f"API '{method.__name__}'")
        return outputs

    def call_graph_fn(self, component, graph_function, args, kwargs):
        name = graph_function.name
        arguments = self._bind(graph_function.function, component, args, kwargs, f"graph_fn '{name}'")
        spaces = self._spaces_of(arguments, component, f"graph_fn '{name}'")
        node = self.graph.node(component.global_scope, "graph_fn", name)
        node.input_spaces = spaces
        self._link(node, spaces)
        _remember_input_spaces(component, spaces)
        if graph_function.space_rule is None:
            raise TraceError(
                f"graph_fn '{name}' of component '{component.global_scope}' declares no output spaces; "
                f"add a rule with @{name}.output_spaces"
            )
        self.stack.append(node)
        try:
            output_spaces = graph_function.space_rule(component, **spaces)
        finally:
            self.stack.pop()
        for leaf in tree.flatten(output_spaces):
            if not isinstance(leaf, Space):
                raise TraceError(f"output space rule of graph_fn '{name}' of component '{component.global_scope}' returned {leaf!r}, not a Space")
        node.output_spaces = output_spaces
        return tree.map_structure(lambda space: SpaceRecord(space, node.node_id), output_spaces)

    def _output_spaces(self, outputs, component, what: str):
        def space_of(leaf):
            if isinstance(leaf, SpaceRecord):
                return leaf.space
            raise TraceError(f"{what} of component '{component.global_scope}' returned {leaf!r}; APIs must return traced values")
        return tree.map_structure(space_of, outputs)


def _remember_input_spaces(component, spaces: dict) -> None:
    for name, space in spaces.items():
        if isinstance(space, Space) or (tree.is_nested(space) and all(isinstance(s, Space) for s in tree.flatten(space))):
            component.input_spaces.setdefault(name, space)


def trace(root, input_spaces: Mapping[str, Space], apis: Optional[Sequence[str]] = None) -> MetaGraph:
    """Calls each root API once with records of `input_spaces`.

    Args:
        root: the composed root component.
        input_spaces: argument name -> Space, shared by all root APIs.
        apis: the root APIs to trace (default: all of them).

    Returns:
        The MetaGraph, with each traced root API's input and output spaces.

    Raises:
        TraceError, SpaceMismatchError: naming component, API and argument.
    """
    graph = MetaGraph(root.global_scope)
    names = list(apis) if apis is not None else root.api_names()
    unknown = [name for name in names if name not in root.api_names()]
    if unknown:
        raise TraceError(f"component '{root.global_scope}' has no API {unknown}; its APIs: {root.api_names()}")
    context = TraceContext(graph)
    token = _ACTIVE_TRACE.set(context)
    try:
        for name in names:
            method = getattr(type(root), name)
            parameters = [p for p in list(inspect.signature(method).parameters.values())[1:]]
            missing = [p.name for p in parameters if p.name not in input_spaces and p.default is inspect.Parameter.empty]
            if missing:
                raise TraceError(
                    f"root API '{name}' of component '{root.global_scope}' needs input spaces for {missing}; "
                    f"given: {sorted(input_spaces)}"
                )
            argument_names = [p.name for p in parameters if p.name in input_spaces]
            records = {}
            for argument in argument_names:
                input_node = graph.node("", "input", argument)
                input_node.output_spaces = input_spaces[argument]
                records[argument] = SpaceRecord(input_spaces[argument], input_node.node_id)
            outputs = getattr(root, name)(**records)
            for argument in argument_names:
                graph.add_edge(f"input:{argument}", f"{root.global_scope}.{name}", describe_spaces(input_spaces[argument]))
            graph.root_apis[name] = RootApi(
                name, argument_names, {a: input_spaces[a] for a in argument_names}, tree.map_structure(lambda r: r.space, outputs)
            )
    finally:
        _ACTIVE_TRACE.reset(token)
    return graph
