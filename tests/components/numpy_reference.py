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


def self_imitation_loss(log_probs, values, returns, coefficient, value_coefficient):
    """Self-imitation with the binary filter, written out per step."""
    parts_imitation, parts_value, better = [], [], []
    for log_prob, value, achieved in zip(log_probs, values, returns):
        chosen = 1.0 if achieved > value else 0.0
        better.append(chosen)
        parts_imitation.append(-chosen * log_prob)
        parts_value.append(0.5 * max(achieved - value, 0.0) ** 2)
    imitation_loss, value_loss = float(np.mean(parts_imitation)), float(np.mean(parts_value))
    return {"total_loss": coefficient * imitation_loss + value_coefficient * value_loss, "imitation_loss": imitation_loss,
            "value_loss": value_loss, "imitated_fraction": float(np.mean(better))}


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


def polynomial_decay(updates_done, initial, end, decay_steps, power):
    """The learning rate after `updates_done` updates (Keras's PolynomialDecay, cycle=False)."""
    fraction = min(updates_done, decay_steps) / decay_steps
    return (initial - end) * (1.0 - fraction) ** power + end


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_cell(inputs, hidden_state, cell_state, kernel, bias):
    """One LSTM step, gates in the order input, forget, candidate, output; returns (hidden, cell)."""
    gates = np.concatenate([inputs, hidden_state], axis=-1) @ kernel + bias
    input_gate, forget_gate, candidate, output_gate = np.split(gates, 4, axis=-1)
    cell_state = sigmoid(forget_gate) * cell_state + sigmoid(input_gate) * np.tanh(candidate)
    return sigmoid(output_gate) * np.tanh(cell_state), cell_state


def mdn_rnn_heads(outputs, variables, prefix, num_mixtures, latent_size, min_log_std, always_valid_logit):
    """The MDN-RNN's per-step predictions from LSTM outputs [..., units]."""
    def head(name):
        return dense(outputs, variables[f"{prefix}/{name}/kernel"], variables[f"{prefix}/{name}/bias"])

    leading = outputs.shape[:-1]
    raw_log_stds = head("mixture_log_stds").reshape(leading + (num_mixtures, latent_size))
    validity = head("xfer_validity")
    return {
        "mixture_logits": head("mixture_logits"),
        "mixture_means": head("mixture_means").reshape(leading + (num_mixtures, latent_size)),
        "mixture_log_stds": min_log_std + np.logaddexp(0.0, raw_log_stds - min_log_std),
        "reward": head("reward")[..., 0],
        "done_logits": head("done")[..., 0],
        "xfer_validity_logits": np.concatenate([validity, np.full(leading + (1,), always_valid_logit)], axis=-1),
        "location_count_logits": head("location_counts"),
    }


def mdn_rnn_predict(variables, prefix, z, xfers, locations, num_mixtures, min_log_std, always_valid_logit,
                    initial_hidden_state=None, initial_cell_state=None, lengths=None):
    """The MDN-RNN's predict API with a Python loop over time; the state stops at each sequence's length."""
    batch, steps, latent_size = z.shape
    kernel, bias = variables[f"{prefix}/lstm/kernel"], variables[f"{prefix}/lstm/bias"]
    units = bias.shape[0] // 4
    hidden = np.zeros((batch, units)) if initial_hidden_state is None else initial_hidden_state.astype(np.float64)
    cell = np.zeros((batch, units)) if initial_cell_state is None else initial_cell_state.astype(np.float64)
    lengths = np.full(batch, steps) if lengths is None else lengths
    outputs = np.zeros((batch, steps, units))
    for t in range(steps):
        inputs = np.concatenate([z[:, t], variables[f"{prefix}/xfer_embedding"][xfers[:, t]],
                                 variables[f"{prefix}/location_embedding"][locations[:, t]]], axis=-1)
        new_hidden, new_cell = lstm_cell(inputs, hidden, cell, kernel, bias)
        outputs[:, t] = new_hidden
        keep = (t < lengths)[:, None]
        hidden, cell = np.where(keep, new_hidden, hidden), np.where(keep, new_cell, cell)
    predictions = mdn_rnn_heads(outputs, variables, prefix, num_mixtures, latent_size, min_log_std, always_valid_logit)
    return dict(predictions, hidden_state=hidden, cell_state=cell)


def gaussian_mixture_log_density(logits, means, log_stds, x):
    """log sum_k pi_k N(x; mu_k, diag(sigma_k^2)) with pi = softmax(logits); x [..., D], means [..., K, D]."""
    x = x[..., None, :]
    per_dimension = -0.5 * np.log(2 * np.pi) - log_stds - 0.5 * ((x - means) / np.exp(log_stds)) ** 2
    component_log_densities = log_softmax(logits) + per_dimension.sum(axis=-1)
    peak = component_log_densities.max(axis=-1, keepdims=True)
    return (peak + np.log(np.exp(component_log_densities - peak).sum(axis=-1, keepdims=True)))[..., 0]


def sigmoid_cross_entropy(logits, labels):
    """-(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), computed stably."""
    return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


def mdn_rnn_loss(predictions, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths, max_locations, weights):
    """The MDN-RNN loss parts, each averaged over the valid steps (counts: over applicable xfers of valid steps)."""
    steps = next_z.shape[1]
    valid = (np.arange(steps)[None, :] < lengths[:, None]).astype(np.float64)
    valid_steps = max(valid.sum(), 1.0)
    num_xfers = next_location_counts.shape[-1]
    nll = -gaussian_mixture_log_density(predictions["mixture_logits"], predictions["mixture_means"],
                                        predictions["mixture_log_stds"], next_z)
    parts = {
        "z_nll": (nll * valid).sum() / valid_steps,
        "reward_loss": ((predictions["reward"] - rewards) ** 2 * valid).sum() / valid_steps,
        "done_loss": (sigmoid_cross_entropy(predictions["done_logits"], dones.astype(np.float64)) * valid).sum() / valid_steps,
    }
    xfer_cross_entropy = sigmoid_cross_entropy(predictions["xfer_validity_logits"][..., :num_xfers],
                                               next_xfer_mask[..., :num_xfers].astype(np.float64)).mean(axis=-1)
    parts["xfer_mask_loss"] = (xfer_cross_entropy * valid).sum() / valid_steps
    target = next_location_counts / max_locations
    predicted = sigmoid(predictions["location_count_logits"])
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = (np.where(target > 0, target * np.log(target / predicted), 0.0)
              + np.where(target < 1, (1 - target) * np.log((1 - target) / (1 - predicted)), 0.0))
    applicable = (next_location_counts > 0) * valid[..., None]
    parts["location_count_loss"] = (kl * applicable).sum() / max(applicable.sum(), 1.0)
    parts["total_loss"] = (parts["z_nll"] + weights["reward"] * parts["reward_loss"] + weights["done"] * parts["done_loss"]
                           + weights["xfer_mask"] * parts["xfer_mask_loss"] + weights["location_counts"] * parts["location_count_loss"])
    return parts
