"""numpy twins of the layer components, used as independent references."""
import numpy as np


def relu(x):
    return np.maximum(x, 0.0)


def dense(x, kernel, bias=None, activation=None):
    y = x @ kernel
    if bias is not None:
        y = y + bias
    return {"relu": relu, "tanh": np.tanh, None: lambda v: v, "linear": lambda v: v}[activation](y)


def log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def layer_norm(x, scale, offset, epsilon=1e-5):
    """Sonnet's LayerNorm over the last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * scale + offset


def _graph_mlp(x, variables, prefix, with_layer_norm):
    """An MLP (ReLU after every layer) then an optional LayerNorm, as in GNEncoder."""
    index = 0
    while f"{prefix}/mlp/linear_{index}/w" in variables:
        x = relu(x @ variables[f"{prefix}/mlp/linear_{index}/w"] + variables[f"{prefix}/mlp/linear_{index}/b"])
        index += 1
    if index == 0:
        raise KeyError(f"no MLP variables under {prefix!r}")
    if with_layer_norm:
        x = layer_norm(x, variables[f"{prefix}/layer_norm/scale"], variables[f"{prefix}/layer_norm/offset"])
    return x


def segment_sum(data, segment_ids, num_segments):
    out = np.zeros((num_segments,) + data.shape[1:], dtype=np.float64)
    np.add.at(out, segment_ids, data)
    return out


def graph_network_encoder(graph, variables, prefix, rounds, with_layer_norm=True):
    """numpy twin of GNEncoder.encode: returns (node embeddings, global latents).

    Args:
        graph: a GraphsTuple of numpy arrays (concatenated graphs).
        variables: full variable name -> value, as ComponentTest reads them.
        prefix: the encoder's scope, e.g. "gn_encoder".
        rounds: message-passing rounds.
    """
    num_graphs, num_nodes = len(graph.n_node), int(np.sum(graph.n_node))
    node_graph = np.repeat(np.arange(num_graphs), graph.n_node)
    edge_graph = np.repeat(np.arange(num_graphs), graph.n_edge)
    senders, receivers = np.asarray(graph.senders), np.asarray(graph.receivers)

    def block(name, x):
        return _graph_mlp(x.astype(np.float64), variables, f"{prefix}/{name}", with_layer_norm)

    encoded_edges = block("encoder/edge_model", graph.edges)
    encoded_nodes = block("encoder/node_model", graph.nodes)
    encoded_globals = block("encoder/global_model", graph.globals)
    edges, nodes, globals_ = encoded_edges, encoded_nodes, encoded_globals
    for _ in range(rounds):
        edges_in = np.concatenate([encoded_edges, edges], axis=1)
        nodes_in = np.concatenate([encoded_nodes, nodes], axis=1)
        globals_in = np.concatenate([encoded_globals, globals_], axis=1)
        # Edge update: [edge, receiver node, sender node, global].
        edges = block("core/edge_block", np.concatenate(
            [edges_in, nodes_in[receivers], nodes_in[senders], globals_in[edge_graph]], axis=1))
        # Node update: [sum of received new edges, node, global].
        received = segment_sum(edges, receivers, num_nodes)
        nodes = block("core/node_block", np.concatenate([received, nodes_in, globals_in[node_graph]], axis=1))
        # Global update: [sum of new edges, sum of new nodes, global] per graph.
        edge_sum = segment_sum(edges, edge_graph, num_graphs)
        node_sum = segment_sum(nodes, node_graph, num_graphs)
        globals_ = block("core/global_block", np.concatenate([edge_sum, node_sum, globals_in], axis=1))
    return nodes, globals_


MASKED_LOGIT = -1e9


def location_logits(node_embeddings, n_node, xfer_tuples, location_masks, xfers, variables, prefix, hidden_activation="relu"):
    """numpy twin of LocationHead.logits, written as explicit loops over graphs and locations."""
    num_xfers = xfer_tuples.shape[1]
    offsets = np.concatenate([[0], np.cumsum(n_node)[:-1]])
    batch, locations = xfer_tuples.shape[0], xfer_tuples.shape[2]
    out = np.zeros((batch, locations))
    for b in range(batch):
        x = int(xfers[b])
        for j in range(locations):
            if x == num_xfers:      # NO-OP: a point mass on location 0, features without nodes
                valid_location = j == 0
                row = []
            else:
                valid_location = bool(location_masks[b, x, j])
                row = xfer_tuples[b, x, j]
            members = [node_embeddings[offsets[b] + index] for index in row if index >= 0]
            pooled = np.mean(members, axis=0) if members else np.zeros(node_embeddings.shape[1])
            features = np.concatenate([pooled, variables[f"{prefix}/xfer_embedding"][x]])
            index = 0
            while f"{prefix}/hidden/dense_{index}/kernel" in variables:
                features = dense(features, variables[f"{prefix}/hidden/dense_{index}/kernel"],
                                 variables[f"{prefix}/hidden/dense_{index}/bias"], hidden_activation)
                index += 1
            score = dense(features, variables[f"{prefix}/score/kernel"], variables[f"{prefix}/score/bias"])[0]
            out[b, j] = score if valid_location else MASKED_LOGIT
    return out


def masked_logits(logits, mask):
    return np.where(mask, logits, MASKED_LOGIT)


def entropy_from_logits(logits):
    log_probs = log_softmax(logits)
    probabilities = np.exp(log_probs)
    return -(probabilities * np.where(probabilities > 0, log_probs, 0.0)).sum(-1)


def generalized_advantage_estimation(rewards, values, dones, bootstrap_values, gamma, gae_lambda):
    """GAE with explicit loops over [B, T] (batch-major) arrays: (advantages, returns)."""
    batch, steps = rewards.shape
    advantages = np.zeros((batch, steps))
    for b in range(batch):
        running = 0.0
        for t in reversed(range(steps)):
            next_value = bootstrap_values[b] if t == steps - 1 else values[b, t + 1]
            not_done = 0.0 if dones[b, t] else 1.0
            delta = rewards[b, t] + gamma * next_value * not_done - values[b, t]
            running = delta + gamma * gae_lambda * not_done * running
            advantages[b, t] = running
    return advantages, advantages + values


def ppo_loss(log_probs, old_log_probs, advantages, values, old_values, returns, xfer_entropy, location_entropy,
             clip_ratio, value_coefficient, entropy_coefficient, location_entropy_coefficient, value_clip, normalize_advantages):
    """The clipped PPO loss parts, written out per step."""
    advantages = np.asarray(advantages, np.float64)
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = np.exp(log_probs - old_log_probs)
    surrogate = np.minimum(ratio * advantages, np.clip(ratio, 1 - clip_ratio, 1 + clip_ratio) * advantages)
    errors = (values - returns) ** 2
    if value_clip is not None:
        errors = np.maximum(errors, (old_values + np.clip(values - old_values, -value_clip, value_clip) - returns) ** 2)
    policy_loss, value_loss = -surrogate.mean(), 0.5 * errors.mean()
    entropy_bonus = entropy_coefficient * xfer_entropy.mean() + location_entropy_coefficient * location_entropy.mean()
    return {
        "total_loss": policy_loss + value_coefficient * value_loss - entropy_bonus,
        "policy_loss": policy_loss, "value_loss": value_loss, "entropy_bonus": entropy_bonus,
        "xfer_entropy": xfer_entropy.mean(), "location_entropy": location_entropy.mean(),
        "approximate_kl": np.mean(old_log_probs - log_probs), "clip_fraction": np.mean(np.abs(ratio - 1) > clip_ratio),
    }


def adam_step(parameters, gradients, first, second, step, learning_rate, beta1, beta2, epsilon, max_gradient_norm):
    """One Adam step over lists of arrays; returns (parameters, first, second, global norm)."""
    norm = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in gradients))
    scale = min(1.0, max_gradient_norm / norm) if max_gradient_norm is not None and norm > 0 else 1.0
    new_parameters, new_first, new_second = [], [], []
    for x, g, m, v in zip(parameters, gradients, first, second):
        g = g * scale
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
        new_parameters.append(x - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon))
        new_first.append(m)
        new_second.append(v)
    return new_parameters, new_first, new_second, norm
