"""Spaces: the types and shapes of every value that flows between components.

Classes in this file:
  Space: base class; explicit optional batch and time ranks.
  FloatBox: real-valued tensor with optional bounds.
  IntBox: integer tensor in [low, high) (categorical when the shape is ()).
  BoolBox: boolean tensor (masks).
  Dict: named container of spaces.
  Tuple: ordered container of spaces.
  GraphSpace: a graph_nets GraphsTuple with given node, edge and global feature
    sizes; its batch rank is the number of graphs.

A space describes one value without its batch and time dimensions (`shape`)
and says whether those leading ranks are present (`batch_rank`, `time_rank`).
Leading dimensions are ordered [batch, time, ...] unless `time_major`.
TensorFlow is imported lazily, only by `tensor_spec`.
"""
from __future__ import annotations

import collections
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from rlgraph_xflow.core.validation import is_int

FLAT_KEY_SEPARATOR = "/"


class SpaceError(ValueError):
    """A value or a space does not match the space that was expected."""


class Space:
    """Base class of all spaces.

    Args:
        batch_rank: whether values carry a leading batch dimension.
        time_rank: whether values carry a time dimension.
        time_major: put the time dimension before the batch dimension.
    """

    def __init__(self, batch_rank: bool = False, time_rank: bool = False, time_major: bool = False):
        self.batch_rank = bool(batch_rank)
        self.time_rank = bool(time_rank)
        self.time_major = bool(time_major)

    # Ranks -------------------------------------------------------------------
    @property
    def leading_rank_count(self) -> int:
        return int(self.batch_rank) + int(self.time_rank)

    def with_ranks(self, batch_rank: Optional[bool] = None, time_rank: Optional[bool] = None,
                   time_major: Optional[bool] = None) -> "Space":
        """Returns a copy with the given leading ranks (None keeps the current one)."""
        clone = self._copy()
        clone._set_ranks(
            self.batch_rank if batch_rank is None else batch_rank,
            self.time_rank if time_rank is None else time_rank,
            self.time_major if time_major is None else time_major,
        )
        return clone

    def _set_ranks(self, batch_rank: bool, time_rank: bool, time_major: bool) -> None:
        self.batch_rank, self.time_rank, self.time_major = bool(batch_rank), bool(time_rank), bool(time_major)

    def _copy(self) -> "Space":
        raise NotImplementedError

    def _leading_dims(self, size: Optional[Sequence[int] | int]) -> tuple:
        """Turns a `size` argument into the concrete leading dimensions."""
        if size is None:
            size = ()
        elif isinstance(size, (int, np.integer)):
            size = (int(size),)
        size = tuple(int(s) for s in size)
        if len(size) != self.leading_rank_count:
            raise SpaceError(
                f"{self!r} has {self.leading_rank_count} leading rank(s) "
                f"(batch={self.batch_rank}, time={self.time_rank}) but size {size} gives {len(size)}"
            )
        return size

    def _rank_suffix(self) -> str:
        ranks = []
        if self.batch_rank:
            ranks.append("batch")
        if self.time_rank:
            ranks.append("time")
        return f", ranks=[{','.join(ranks)}]" if ranks else ""

    # Interface ---------------------------------------------------------------
    def sample(self, size=None, rng: Optional[np.random.Generator] = None):
        raise NotImplementedError

    def zeros(self, size=None):
        raise NotImplementedError

    def contains(self, value) -> bool:
        return self.mismatch(value) is None

    def mismatch(self, value) -> Optional[str]:
        """Returns why value is not in this space, or None when it is."""
        raise NotImplementedError

    def flatten(self, prefix: str = "") -> "collections.OrderedDict[str, Space]":
        """Maps flat keys (e.g. "/obs/position") to the primitive spaces inside."""
        return collections.OrderedDict([(prefix, self)])

    def flatten_value(self, value, prefix: str = "") -> "collections.OrderedDict[str, Any]":
        return collections.OrderedDict([(prefix, value)])

    def unflatten(self, flat: Mapping[str, Any], prefix: str = ""):
        """Inverse of flatten_value."""
        if prefix not in flat:
            raise SpaceError(f"flat value has no key {prefix!r}; keys: {sorted(flat)}")
        return flat[prefix]

    def tensor_spec(self):
        """The tf.TensorSpec (nested for containers) of a value of this space."""
        raise NotImplementedError

    def is_compatible(self, other: "Space") -> bool:
        """Whether a value of `other` can be passed where this space is expected."""
        return self == other

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._identity()))

    def _identity(self) -> tuple:
        return (self.batch_rank, self.time_rank, self.time_major)


class BoxSpace(Space):
    """A tensor of one dtype and shape (without leading ranks)."""

    dtype: np.dtype = np.dtype("float32")
    kind_name = "Box"

    def __init__(self, shape: Sequence[int] = (), dtype=None, **ranks):
        super().__init__(**ranks)
        try:
            self.shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise SpaceError(f"{type(self).__name__} shape must be a sequence of ints, got {shape!r}") from None
        if any(d < 0 for d in self.shape):
            raise SpaceError(f"{type(self).__name__} shape must have non-negative dims, got {self.shape}")
        if dtype is not None:
            self.dtype = np.dtype(dtype)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def get_shape(self, with_batch_rank: bool = True, with_time_rank: bool = True) -> tuple:
        """Full shape with None for the leading ranks that are present and asked for."""
        leading = []
        batch = [None] if (self.batch_rank and with_batch_rank) else []
        time = [None] if (self.time_rank and with_time_rank) else []
        leading = time + batch if self.time_major else batch + time
        return tuple(leading) + self.shape

    def mismatch(self, value) -> Optional[str]:
        try:
            array = np.asarray(value)
        except ValueError as error:
            return f"not an array of one shape ({error})"
        if array.dtype == object:
            return f"not a numeric array (got {type(value).__name__} of mixed or ragged values)"
        if array.ndim != self.leading_rank_count + self.rank:
            return f"expected rank {self.leading_rank_count + self.rank} (shape {self.get_shape()}), got shape {array.shape}"
        if tuple(array.shape[self.leading_rank_count:]) != self.shape:
            return f"expected trailing shape {self.shape}, got shape {array.shape}"
        if not self._dtype_matches(array.dtype):
            return f"expected dtype {self.dtype}, got {array.dtype}"
        return self._value_mismatch(array)

    def _dtype_matches(self, dtype: np.dtype) -> bool:
        return np.dtype(dtype) == self.dtype

    def _value_mismatch(self, array: np.ndarray) -> Optional[str]:
        return None

    def zeros(self, size=None):
        return np.zeros(self._leading_dims(size) + self.shape, dtype=self.dtype)

    def tensor_spec(self):
        import tensorflow as tf

        return tf.TensorSpec(self.get_shape(), tf.as_dtype(self.dtype))

    def _identity(self) -> tuple:
        return super()._identity() + (self.shape, self.dtype.str)

    def _copy(self):
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}{self._bounds_repr()}{self._rank_suffix()})"

    def _bounds_repr(self) -> str:
        return ""


class FloatBox(BoxSpace):
    """Real-valued tensor; bounds are optional and used by `sample`.

    Example:
        >>> FloatBox(shape=(3,), batch_rank=True).get_shape()
        (None, 3)
    """

    def __init__(self, shape=(), low: float = -np.inf, high: float = np.inf, dtype="float32", **ranks):
        super().__init__(shape, dtype=dtype, **ranks)
        if not np.issubdtype(self.dtype, np.floating):
            raise SpaceError(f"FloatBox dtype must be a float type, got {self.dtype}")
        self.low, self.high = float(low), float(high)
        if not self.low <= self.high:
            raise SpaceError(f"FloatBox low {low} must not exceed high {high}")

    def sample(self, size=None, rng=None):
        rng = rng or np.random.default_rng()
        full = self._leading_dims(size) + self.shape
        if np.isfinite(self.low) and np.isfinite(self.high):
            values = rng.uniform(self.low, self.high, size=full)
        else:
            values = np.clip(rng.standard_normal(size=full), self.low, self.high)
        return values.astype(self.dtype)

    def _value_mismatch(self, array):
        if array.size and (np.isfinite(self.low) or np.isfinite(self.high)) and (array.min() < self.low or array.max() > self.high):
            return f"values outside [{self.low}, {self.high}]"
        return None

    def _bounds_repr(self):
        if np.isinf(self.low) and np.isinf(self.high):
            return ""
        return f", low={self.low}, high={self.high}"

    def _identity(self):
        return super()._identity() + (self.low, self.high)


class IntBox(BoxSpace):
    """Integer tensor with values in [low, high); a categorical when shape is ().

    Example:
        >>> IntBox(4).num_categories
        4
    """

    def __init__(self, high: Optional[int] = None, shape=(), low: int = 0, dtype="int32", **ranks):
        super().__init__(shape, dtype=dtype, **ranks)
        if not np.issubdtype(self.dtype, np.integer):
            raise SpaceError(f"IntBox dtype must be an integer type, got {self.dtype}")
        try:
            self.low = int(low)
            self.high = None if high is None else int(high)
        except (TypeError, ValueError):
            raise SpaceError(f"IntBox low and high must be ints, got low={low!r}, high={high!r}") from None
        if self.high is not None and self.high <= self.low:
            raise SpaceError(f"IntBox needs low < high, got low={low}, high={high}")
        limits = np.iinfo(self.dtype)
        if self.low < limits.min or (self.high is not None and self.high - 1 > limits.max):
            raise SpaceError(f"IntBox bounds [{self.low}, {self.high}) do not fit dtype {self.dtype} [{limits.min}, {limits.max}]")

    @property
    def num_categories(self) -> Optional[int]:
        return None if self.high is None else self.high - self.low

    def sample(self, size=None, rng=None):
        rng = rng or np.random.default_rng()
        high = self.high if self.high is not None else min(self.low + 2**15, int(np.iinfo(self.dtype).max) + 1)
        return rng.integers(self.low, high, size=self._leading_dims(size) + self.shape).astype(self.dtype)

    def _dtype_matches(self, dtype):
        return np.issubdtype(dtype, np.integer)

    def _value_mismatch(self, array):
        if array.size == 0:
            return None
        # min/max make no temporary boolean arrays: inputs can be millions of
        # indices. A bound the array's dtype cannot pass needs no pass over it
        # (xfer_tuples' high is int32's maximum: one 29 MB pass less a PPO update).
        limits = np.iinfo(array.dtype)
        if self.low > limits.min and array.min() < self.low:
            return f"values outside [{self.low}, {self.high})"
        if self.high is not None and self.high <= limits.max and array.max() >= self.high:
            return f"values outside [{self.low}, {self.high})"
        return None

    def _bounds_repr(self):
        return f", low={self.low}, high={self.high}"

    def _identity(self):
        return super()._identity() + (self.low, self.high)


class BoolBox(BoxSpace):
    """Boolean tensor, e.g. an action mask."""

    def __init__(self, shape=(), **ranks):
        super().__init__(shape, dtype="bool", **ranks)

    def sample(self, size=None, rng=None):
        rng = rng or np.random.default_rng()
        return rng.integers(0, 2, size=self._leading_dims(size) + self.shape).astype(bool)


class ContainerSpace(Space):
    """A space made of named or ordered sub-spaces; leading ranks apply to all."""

    def _children(self) -> list[tuple[str, Space]]:
        raise NotImplementedError

    def _set_ranks(self, batch_rank, time_rank, time_major):
        super()._set_ranks(batch_rank, time_rank, time_major)
        for _, child in self._children():
            child._set_ranks(batch_rank, time_rank, time_major)

    def flatten(self, prefix: str = ""):
        flat = collections.OrderedDict()
        for key, child in self._children():
            flat.update(child.flatten(f"{prefix}{FLAT_KEY_SEPARATOR}{key}"))
        return flat

    def sample(self, size=None, rng=None):
        rng = rng or np.random.default_rng()
        return self._rebuild({key: child.sample(size, rng) for key, child in self._children()})

    def zeros(self, size=None):
        return self._rebuild({key: child.zeros(size) for key, child in self._children()})

    def tensor_spec(self):
        return self._rebuild({key: child.tensor_spec() for key, child in self._children()})

    def _rebuild(self, values: dict):
        raise NotImplementedError

    def _identity(self):
        return super()._identity() + tuple((key, child) for key, child in self._children())


class Dict(ContainerSpace):
    """Named sub-spaces (keys sorted for a deterministic flat order).

    Example:
        >>> space = Dict(position=FloatBox((2,)), mask=BoolBox((4,)), batch_rank=True)
        >>> list(space.flatten())
        ['/mask', '/position']
    """

    def __init__(self, spaces: Optional[Mapping[str, Space]] = None, batch_rank=False, time_rank=False, time_major=False, **named):
        super().__init__(batch_rank=batch_rank, time_rank=time_rank, time_major=time_major)
        spaces = dict(spaces or {}, **named)
        for key, child in spaces.items():
            if not isinstance(child, Space):
                raise SpaceError(f"Dict entry {key!r} must be a Space, got {child!r}")
            if FLAT_KEY_SEPARATOR in key:
                raise SpaceError(f"Dict key {key!r} must not contain {FLAT_KEY_SEPARATOR!r}")
        self.spaces = collections.OrderedDict((key, spaces[key].with_ranks(batch_rank, time_rank, time_major)) for key in sorted(spaces))

    def __getitem__(self, key: str) -> Space:
        return self.spaces[key]

    def keys(self):
        return self.spaces.keys()

    def _children(self):
        return list(self.spaces.items())

    def _rebuild(self, values):
        return {key: values[key] for key in self.spaces}

    def mismatch(self, value):
        if not isinstance(value, Mapping):
            return f"expected a mapping with keys {list(self.spaces)}, got {type(value).__name__}"
        if set(value) != set(self.spaces):
            return f"expected keys {sorted(self.spaces)}, got {sorted(value)}"
        for key, child in self.spaces.items():
            problem = child.mismatch(value[key])
            if problem:
                return f"[{key!r}]: {problem}"
        return None

    def flatten_value(self, value, prefix=""):
        flat = collections.OrderedDict()
        for key, child in self.spaces.items():
            flat.update(child.flatten_value(value[key], f"{prefix}{FLAT_KEY_SEPARATOR}{key}"))
        return flat

    def unflatten(self, flat, prefix=""):
        return {key: child.unflatten(flat, f"{prefix}{FLAT_KEY_SEPARATOR}{key}") for key, child in self.spaces.items()}

    def _copy(self):
        return Dict({key: child._copy() for key, child in self.spaces.items()}, self.batch_rank, self.time_rank, self.time_major)

    def __repr__(self):
        inner = ", ".join(f"{key}={child!r}" for key, child in self.spaces.items())
        return f"Dict({inner}{self._rank_suffix()})"


class Tuple(ContainerSpace):
    """Ordered sub-spaces."""

    def __init__(self, spaces: Iterable[Space], batch_rank=False, time_rank=False, time_major=False):
        super().__init__(batch_rank=batch_rank, time_rank=time_rank, time_major=time_major)
        spaces = list(spaces)
        for index, child in enumerate(spaces):
            if not isinstance(child, Space):
                raise SpaceError(f"Tuple entry {index} must be a Space, got {child!r}")
        self.spaces = tuple(child.with_ranks(batch_rank, time_rank, time_major) for child in spaces)

    def __getitem__(self, index: int) -> Space:
        return self.spaces[index]

    def __len__(self) -> int:
        return len(self.spaces)

    def _children(self):
        return [(str(index), child) for index, child in enumerate(self.spaces)]

    def _rebuild(self, values):
        return tuple(values[str(index)] for index in range(len(self.spaces)))

    def mismatch(self, value):
        if not isinstance(value, (tuple, list)) or len(value) != len(self.spaces):
            found = f"{len(value)} values" if isinstance(value, (tuple, list)) else type(value).__name__
            return f"expected a sequence of {len(self.spaces)} values, got {found}"
        for index, (child, item) in enumerate(zip(self.spaces, value)):
            problem = child.mismatch(item)
            if problem:
                return f"[{index}]: {problem}"
        return None

    def flatten_value(self, value, prefix=""):
        flat = collections.OrderedDict()
        for index, (child, item) in enumerate(zip(self.spaces, value)):
            flat.update(child.flatten_value(item, f"{prefix}{FLAT_KEY_SEPARATOR}{index}"))
        return flat

    def unflatten(self, flat, prefix=""):
        return tuple(child.unflatten(flat, f"{prefix}{FLAT_KEY_SEPARATOR}{index}") for index, child in enumerate(self.spaces))

    def _copy(self):
        return Tuple([child._copy() for child in self.spaces], self.batch_rank, self.time_rank, self.time_major)

    def __repr__(self):
        return f"Tuple({', '.join(repr(child) for child in self.spaces)}{self._rank_suffix()})"


GRAPH_FIELDS = ("nodes", "edges", "receivers", "senders", "globals", "n_node", "n_edge")


class GraphSpace(Space):
    """A batch of graphs as a graph_nets GraphsTuple.

    Nodes and edges of all graphs are concatenated; `n_node`/`n_edge` give the
    per-graph counts and `senders`/`receivers` index into the concatenated
    nodes. The batch rank is the number of graphs, so it is always present.

    Args:
        node_size: node feature width.
        edge_size: edge feature width.
        global_size: global (per-graph) feature width.
        max_nodes: the most nodes `sample` puts into one graph.
    """

    def __init__(self, node_size: int, edge_size: int, global_size: int, max_nodes: int = 8, **ranks):
        ranks.setdefault("batch_rank", True)
        if not ranks["batch_rank"] or ranks.get("time_rank"):
            raise SpaceError("GraphSpace always has a batch rank (the graphs) and no time rank")
        super().__init__(**ranks)
        sizes = {"node_size": node_size, "edge_size": edge_size, "global_size": global_size, "max_nodes": max_nodes}
        for name, value in sizes.items():
            minimum = 1 if name == "max_nodes" else 0
            if not is_int(value, allow_numpy=True) or value < minimum:
                raise SpaceError(f"GraphSpace {name} must be an int >= {minimum}, got {value!r}")
        self.node_size, self.edge_size, self.global_size = int(node_size), int(edge_size), int(global_size)
        self.max_nodes = int(max_nodes)

    def _set_ranks(self, batch_rank, time_rank, time_major):
        if not batch_rank or time_rank:
            raise SpaceError("GraphSpace always has a batch rank (the graphs) and no time rank")

    def _field_shapes(self) -> dict:
        return {
            "nodes": ((None, self.node_size), np.float32),
            "edges": ((None, self.edge_size), np.float32),
            "receivers": ((None,), np.int32),
            "senders": ((None,), np.int32),
            "globals": ((None, self.global_size), np.float32),
            "n_node": ((None,), np.int32),
            "n_edge": ((None,), np.int32),
        }

    def _graphs_tuple(self, **fields):
        from graph_nets import graphs

        return graphs.GraphsTuple(**fields)

    def sample(self, size=None, rng=None):
        rng = rng or np.random.default_rng()
        (num_graphs,) = self._leading_dims(size if size is not None else 1)
        n_node = rng.integers(1, self.max_nodes + 1, size=num_graphs).astype(np.int32)
        n_edge = np.array([rng.integers(0, count * count + 1) for count in n_node], dtype=np.int32)
        offsets = np.concatenate([[0], np.cumsum(n_node)[:-1]]).astype(np.int32)
        senders = np.concatenate([rng.integers(0, n, size=e) + o for n, e, o in zip(n_node, n_edge, offsets)] + [np.zeros(0)]).astype(np.int32)
        receivers = np.concatenate([rng.integers(0, n, size=e) + o for n, e, o in zip(n_node, n_edge, offsets)] + [np.zeros(0)]).astype(np.int32)
        return self._graphs_tuple(
            nodes=rng.standard_normal((int(n_node.sum()), self.node_size)).astype(np.float32),
            edges=rng.standard_normal((int(n_edge.sum()), self.edge_size)).astype(np.float32),
            receivers=receivers,
            senders=senders,
            globals=rng.standard_normal((num_graphs, self.global_size)).astype(np.float32),
            n_node=n_node,
            n_edge=n_edge,
        )

    def zeros(self, size=None):
        """`size` graphs of one node each, no edges, all features zero."""
        (num_graphs,) = self._leading_dims(size if size is not None else 1)
        return self._graphs_tuple(
            nodes=np.zeros((num_graphs, self.node_size), np.float32),
            edges=np.zeros((0, self.edge_size), np.float32),
            receivers=np.zeros((0,), np.int32),
            senders=np.zeros((0,), np.int32),
            globals=np.zeros((num_graphs, self.global_size), np.float32),
            n_node=np.ones((num_graphs,), np.int32),
            n_edge=np.zeros((num_graphs,), np.int32),
        )

    def mismatch(self, value):
        missing = [field for field in GRAPH_FIELDS if not hasattr(value, field)]
        if missing:
            return f"expected a GraphsTuple, got {type(value).__name__} without {missing}"
        arrays = {field: np.asarray(getattr(value, field)) for field in GRAPH_FIELDS}
        for field, (shape, dtype) in self._field_shapes().items():
            array = arrays[field]
            if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
                return f"field {field}: expected shape {shape}, got {array.shape}"
            if array.dtype.kind != np.dtype(dtype).kind:
                return f"field {field}: expected dtype {np.dtype(dtype)}, got {array.dtype}"
        if (arrays["n_node"] < 0).any() or (arrays["n_edge"] < 0).any():
            return "n_node and n_edge must not be negative"
        num_graphs = arrays["n_node"].shape[0]
        if arrays["globals"].shape[0] != num_graphs or arrays["n_edge"].shape[0] != num_graphs:
            return "n_node, n_edge and globals disagree on the number of graphs"
        if arrays["n_node"].sum() != arrays["nodes"].shape[0]:
            return f"sum(n_node)={arrays['n_node'].sum()} but nodes has {arrays['nodes'].shape[0]} rows"
        if arrays["n_edge"].sum() != arrays["edges"].shape[0]:
            return f"sum(n_edge)={arrays['n_edge'].sum()} but edges has {arrays['edges'].shape[0]} rows"
        for field in ("senders", "receivers"):
            if arrays[field].shape[0] != arrays["edges"].shape[0]:
                return f"{field} has {arrays[field].shape[0]} entries for {arrays['edges'].shape[0]} edges"
            if arrays[field].size and (arrays[field].min() < 0 or arrays[field].max() >= arrays["nodes"].shape[0]):
                return f"{field} index a node outside [0, {arrays['nodes'].shape[0]})"
        # Each edge must stay inside its own graph's slice of the nodes.
        node_starts = np.concatenate([[0], np.cumsum(arrays["n_node"])[:-1]])
        edge_graph = np.repeat(np.arange(num_graphs), arrays["n_edge"])
        low, high = node_starts[edge_graph], node_starts[edge_graph] + arrays["n_node"][edge_graph]
        for field in ("senders", "receivers"):
            outside = (arrays[field] < low) | (arrays[field] >= high)
            if outside.any():
                edge = int(np.argmax(outside))
                return f"{field}[{edge}]={arrays[field][edge]} leaves its graph {edge_graph[edge]} (nodes [{low[edge]}, {high[edge]}))"
        return None

    def tensor_spec(self):
        import tensorflow as tf

        return self._graphs_tuple(
            **{field: tf.TensorSpec(shape, tf.as_dtype(dtype)) for field, (shape, dtype) in self._field_shapes().items()}
        )

    def _copy(self):
        return GraphSpace(self.node_size, self.edge_size, self.global_size, self.max_nodes)

    def _identity(self):
        return super()._identity() + (self.node_size, self.edge_size, self.global_size)

    def __repr__(self):
        return f"GraphSpace(node_size={self.node_size}, edge_size={self.edge_size}, global_size={self.global_size})"


SPACE_TYPES = {
    "float_box": FloatBox,
    "int_box": IntBox,
    "bool_box": BoolBox,
    "dict": Dict,
    "tuple": Tuple,
    "graph": GraphSpace,
}


def space_from_spec(spec, key_path: str = "space") -> Space:
    """Builds a space from a YAML-style spec.

    Example:
        >>> space_from_spec({"type": "float_box", "shape": [4], "batch_rank": True})
        FloatBox(shape=(4,), ranks=[batch])

    Raises:
        SpaceError: naming key_path, for an unknown type or bad arguments.
    """
    if isinstance(spec, Space):
        return spec
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise SpaceError(f"{key_path}: a space spec must be a mapping with a 'type' key, got {spec!r}")
    arguments = dict(spec)
    type_name = arguments.pop("type")
    if not isinstance(type_name, str) or type_name not in SPACE_TYPES:
        import difflib

        close = difflib.get_close_matches(str(type_name), SPACE_TYPES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpaceError(f"{key_path}.type: unknown space type {type_name!r}{hint} Known: {sorted(SPACE_TYPES)}")
    if type_name == "dict":
        if "spaces" in arguments:
            children, children_path = arguments.pop("spaces"), f"{key_path}.spaces"
            if not isinstance(children, Mapping):
                raise SpaceError(f"{children_path}: a dict space's 'spaces' must be a mapping of name -> space spec, got {children!r}")
            unknown = sorted(set(arguments) - {"batch_rank", "time_rank", "time_major"})
            if unknown:
                raise SpaceError(f"{key_path}: unknown argument(s) {unknown} for a dict space with 'spaces'; allowed: batch_rank, time_rank, time_major")
        else:
            children = {k: v for k, v in arguments.items() if k not in ("batch_rank", "time_rank", "time_major")}
            children_path = key_path
        ranks = {k: arguments[k] for k in ("batch_rank", "time_rank", "time_major") if k in arguments}
        built = {key: space_from_spec(child, f"{children_path}.{key}") for key, child in children.items()}
        return _construct(lambda: Dict(built, **ranks), key_path, type_name)
    if type_name == "tuple":
        children = arguments.pop("spaces", [])
        if not isinstance(children, (list, tuple)):
            raise SpaceError(f"{key_path}.spaces: a tuple space's 'spaces' must be a list of space specs, got {children!r}")
        built = [space_from_spec(child, f"{key_path}.spaces[{index}]") for index, child in enumerate(children)]
        return _construct(lambda: Tuple(built, **arguments), key_path, type_name)
    return _construct(lambda: SPACE_TYPES[type_name](**arguments), key_path, type_name)


def _construct(make, key_path: str, type_name: str) -> Space:
    try:
        return make()
    except (TypeError, ValueError) as error:
        raise SpaceError(f"{key_path}: bad arguments for space {type_name!r}: {error}") from None
