"""GNEncoder: a graph-network encoder of computation graphs (dissertation 3.1.1).

Classes in this file:
  GNEncoder: graph_nets encoder (GraphIndependent MLPs), then shared-weight
    message-passing rounds of a GraphNetwork core (Battaglia et al. 2018,
    "Relational inductive biases, deep learning, and graph networks") with an
    `unsorted_segment_sum` reducer, giving node embeddings and a global
    latent z per graph.

Each core round sees the encoded input concatenated with the current latent
(graph_nets' encode-process-decode layout), so the input features stay
visible to every round however many rounds run.
"""
from __future__ import annotations

import re
from typing import Optional

import numpy as np

from rlgraph_xflow.components.layers.initializers import component_seed
from rlgraph_xflow.core import Component, FloatBox, GraphSpace, api, graph_fn, register
from rlgraph_xflow.core.validation import check_bool, check_int_at_least

# Name of the Sonnet module that holds the encoder and the core; variable
# names are taken relative to it, so they do not depend on TF name scopes.
_SONNET_ROOT_NAME = "graph_network_encoder"


class _SeededGlorotUniform:
    """A Sonnet initializer: Glorot uniform from numpy, one fresh seed a call.

    Sonnet's default initializers draw from TF's global random state, which
    would make two builds of the same spec differ; here every call derives its
    seed from the component seed and a call counter, and the call order is
    fixed by the module structure, so a spec always initialises the same way.
    """

    def __init__(self, seed: int):
        self.seed = seed
        self.calls = 0

    def __call__(self, shape, dtype):
        import tensorflow as tf

        self.calls += 1
        fan_in, fan_out = (shape[-2], shape[-1]) if len(shape) >= 2 else (shape[0], shape[0])
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        rng = np.random.default_rng([self.seed, self.calls])
        return tf.constant(rng.uniform(-limit, limit, size=tuple(shape)), dtype=dtype)


@register("gn_encoder")
class GNEncoder(Component):
    """Graph-network encoder: GraphsTuple -> (node embeddings, global latent z).

    Args:
        latent_size: D, the width of node, edge and global latents.
        mlp_layers: number of layers of every MLP (each D wide, ReLU, also
            after the last layer).
        message_passing_rounds: core rounds; the core's weights are shared
            across rounds (dissertation: five rounds).
        layer_norm: end every MLP with a LayerNorm, which keeps sums over
            many edges (large graphs) in a stable range.
        seed: initializer seed (combined with the component's scope).

    API:
        encode(graphs) -> (node_embeddings [total_nodes, D], z [num_graphs, D])
        global_latent(graphs) -> z [num_graphs, D]

    Example:
        >>> encoder = GNEncoder(latent_size=16, message_passing_rounds=2)
        >>> test = ComponentTest(encoder, {"graphs": GraphSpace(5, 4, 4)})
        >>> graphs = GraphSpace(5, 4, 4).sample(2)
        >>> nodes, z = test.test(("encode", (graphs,)))   # a GraphsTuple is a tuple: wrap it
    """

    def __init__(self, latent_size: int = 64, mlp_layers: int = 2, message_passing_rounds: int = 5,
                 layer_norm: bool = True, seed: int = 0, scope: Optional[str] = None, device: Optional[str] = None,
                 key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "gn_encoder"
        self.latent_size = check_int_at_least(latent_size, f"{where}.latent_size", 1, allow_numpy=True)
        self.mlp_layers = check_int_at_least(mlp_layers, f"{where}.mlp_layers", 1, allow_numpy=True)
        self.message_passing_rounds = check_int_at_least(message_passing_rounds, f"{where}.message_passing_rounds", 0,
                                                         allow_numpy=True)
        self.layer_norm = check_bool(layer_norm, f"{where}.layer_norm")
        self.seed = seed
        self.network = None

    # Variables ---------------------------------------------------------------
    def _make_network(self):
        import sonnet as snt
        import tensorflow as tf
        from graph_nets import modules

        initializer = _SeededGlorotUniform(component_seed(self.global_scope, self.seed))
        latent_size, mlp_layers, layer_norm = self.latent_size, self.mlp_layers, self.layer_norm

        def make_mlp():
            layers = [snt.nets.MLP([latent_size] * mlp_layers, w_init=initializer, activate_final=True)]
            if layer_norm:
                layers.append(snt.LayerNorm(axis=-1, create_scale=True, create_offset=True))
            return snt.Sequential(layers)

        class EncoderNetwork(snt.Module):
            def __init__(self):
                super().__init__(name=_SONNET_ROOT_NAME)
                self.encoder = modules.GraphIndependent(make_mlp, make_mlp, make_mlp, name="encoder")
                self.core = modules.GraphNetwork(make_mlp, make_mlp, make_mlp, reducer=tf.math.unsorted_segment_sum, name="core")

        return EncoderNetwork()

    def create_variables(self, input_spaces):
        import tensorflow as tf

        graph_space = input_spaces["graphs"]
        self.network = self._make_network()
        # Sonnet 2 creates variables on the first call: call once, eagerly, on
        # a one-node graph of the input space so every variable exists before
        # the APIs are traced into tf.functions. The core's weights are shared
        # across rounds, so one round creates them all (in the same order, so
        # the seeded initializer draws the same values).
        dummy = graph_space.zeros(1)
        dummy = dummy.map(lambda field: tf.convert_to_tensor(field), fields=dummy._fields)
        self._propagate(dummy, rounds=min(1, self.message_passing_rounds))
        for name, variable in self._sonnet_variables():
            self.variables[name] = variable

    def _sonnet_variables(self) -> list:
        """(stable name, variable) for every Sonnet variable, sorted by name."""
        found = {}
        for variable in self.network.variables:
            full_name = variable.name.split(":")[0]
            # Sonnet may add a "_<n>" suffix to a repeated module name.
            match = re.search(rf"(^|/){_SONNET_ROOT_NAME}(_\d+)?/(.*)$", full_name)
            name = match.group(3) if match else full_name
            if name in found and found[name] is not variable:
                raise RuntimeError(f"{self.global_scope}: two Sonnet variables share the name {name!r}")
            found[name] = variable
        return sorted(found.items())

    # Computation -------------------------------------------------------------
    def _propagate(self, graphs, rounds: Optional[int] = None):
        from graph_nets import utils_tf

        encoded = self.network.encoder(graphs)
        latent = encoded
        for _ in range(self.message_passing_rounds if rounds is None else rounds):
            latent = self.network.core(utils_tf.concat([encoded, latent], axis=1))
        return latent

    @api
    def encode(self, graphs):
        """Node embeddings [total_nodes, D] and the global latent z [num_graphs, D]."""
        return self._graph_fn_encode(graphs)

    @api
    def global_latent(self, graphs):
        """The global latent z [num_graphs, D] alone."""
        _, latent = self._graph_fn_encode(graphs)
        return latent

    # Every acting, evaluating and training API runs the encoder: tracing it
    # once for all of them, rather than once in each, cut the PPO agent's
    # build time (issue 6).
    @graph_fn(share_trace=True)
    def _graph_fn_encode(self, graphs):
        import tensorflow as tf

        latent = self._propagate(graphs.replace(
            nodes=tf.cast(graphs.nodes, tf.float32), edges=tf.cast(graphs.edges, tf.float32),
            globals=tf.cast(graphs.globals, tf.float32)))
        return latent.nodes, latent.globals

    @_graph_fn_encode.output_spaces
    def _graph_fn_encode(self, graphs):
        self.require(isinstance(graphs, GraphSpace), "graphs", "a GraphSpace (a graph_nets GraphsTuple)", graphs)
        known = self.input_spaces.get("graphs")
        self.require(known is None or known == graphs, "graphs",
                     f"the graph space this encoder was first called with ({known!r})", graphs)
        # The nodes' leading dimension is the total node count of the batch,
        # the globals' the number of graphs; both are batch ranks here.
        return FloatBox((self.latent_size,), batch_rank=True), FloatBox((self.latent_size,), batch_rank=True)
