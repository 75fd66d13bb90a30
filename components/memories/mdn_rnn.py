"""MDNRNN: the world model's memory, an LSTM with a mixture density head.

Classes and constants in this file:
  MDNRNN: models P(z', r, done, xfer mask, location counts | z, a, h) over
    padded episodes (Ha and Schmidhuber 2018, "World Models", section 2.2;
    Graves 2013 for the mixture density RNN; Bishop 1994 for mixture density
    networks; dissertation section 3.4.1).
  LOSS_PARTS: the names of the loss API's outputs.
  PREDICTION_FIELDS: the names of the per-step predictions.

Inputs at step t are the graph latent z_t (the GN encoder's global output)
and the action a_t = (xfer x_t, location l_t) taken in it. The action is
encoded by two learned embeddings, one over the N + 1 xfer ids (NO-OP
included) and one over the L location slots, concatenated with z_t. A
location index has no meaning shared across xfers (slot j of xfer i and slot
j of xfer k are unrelated places), so it is embedded rather than fed as a
scaled number; the LSTM combines it with the xfer embedding.

The LSTM cell is written out here (not a Keras layer) so its variables are
this component's, and one step function serves both the training unroll
(`tf.scan` over the time axis) and the one-step dream API with the same
weights. Its state (hidden_state, cell_state), each [B, units], is explicit so
a dream environment can carry it from step to step.

From the LSTM output h_t, linear heads predict for step t + 1:
  z_{t+1}: a mixture of K diagonal Gaussians (logits [K], means [K, D],
    log standard deviations [K, D]). The log standard deviations are floored
    smoothly at `min_log_std` (floor + softplus(raw - floor)): the real
    environment is deterministic, and without a floor the likelihood of a
    deterministic transition drives sigma to 0 and the NLL to -infinity.
  the reward r_t of the action (regression, mean squared error);
  done_t, the episode ended with this action (logit, cross-entropy);
  the next xfer mask [N + 1]: one validity logit per xfer (cross-entropy);
    NO-OP is always valid, so its logit is a constant ALWAYS_VALID_LOGIT and
    it takes no part in the loss;
  the next location counts [N]: location masks are prefixes (location j of
    xfer i is valid iff j < count_i), so a count per xfer replaces N x L mask
    bits. The head predicts the fraction p_i = count_i / L as a logit;
    its loss is the Bernoulli KL divergence between count_i / L and p_i, i.e.
    the Binomial(L, p_i) negative log-likelihood of count_i divided by L, up
    to a constant, so it is 0 for an exact prediction. It is averaged over
    the applicable xfers only (count_i > 0): when sampling, an xfer the
    validity head rejects gets count 0, and an accepted one gets
    clip(round(L p_i), 1, L), so mask and counts always agree.

Temperature tau (used only when sampling, never in the loss): the mixture
logits are divided by tau before the softmax (dissertation 3.4.1), and each
Gaussian's standard deviation is scaled by sqrt(tau) as in World Models'
sampling code. The dissertation states that tau = 0 makes the predictions
completely deterministic; dividing only the logits would still leave the
Gaussian noise, so scaling sigma as well is what makes that statement true:
tau = 0 picks the most likely component and returns its mean, tau = 1 samples
the learned mixture unchanged, tau > 1 flattens the component choice and
widens each Gaussian. tau = 0 is supported exactly (argmax, no noise).
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from rlgraph_xflow.components.heads.xfer_policy_head import MASKED_LOGIT
from rlgraph_xflow.components.layers.dense import Dense
from rlgraph_xflow.components.layers.initializers import component_seed, glorot_uniform
from rlgraph_xflow.core import BoolBox, Component, FloatBox, IntBox, SpecError, api, graph_fn, register
from rlgraph_xflow.core.validation import check_number_in_range, check_positive_int

LOSS_PARTS = ("total_loss", "z_nll", "reward_loss", "done_loss", "xfer_mask_loss", "location_count_loss")
PREDICTION_FIELDS = ("mixture_logits", "mixture_means", "mixture_log_stds", "reward", "done_logits",
                     "xfer_validity_logits", "location_count_logits")
LOSS_WEIGHT_NAMES = ("reward", "done", "xfer_mask", "location_counts")
# NO-OP's validity logit: sigmoid of it is 1 in float32, and it is never in a loss.
ALWAYS_VALID_LOGIT = -MASKED_LOGIT
# The forget gate starts mostly open so early gradients pass through time
# (Jozefowicz et al. 2015).
FORGET_GATE_BIAS = 1.0


@register("mdn_rnn")
class MDNRNN(Component):
    """LSTM over (z_t, xfer_t, location_t) with mixture, reward, done and mask heads.

    Args:
        latent_size: D, the width of z (the GN encoder's global latent).
        num_xfers: N; xfer ids are in [0, N], N being NO-OP.
        max_locations: L, the location cap; location ids are in [0, L) and
            counts in [0, L].
        lstm_units: width of the LSTM state (dissertation: 256).
        num_mixtures: K, Gaussians in the mixture over z_{t+1} (dissertation: 8).
        temperature: tau >= 0 for `sample_next` (see the module docstring).
        xfer_embedding_size: width of the learned xfer embedding.
        location_embedding_size: width of the learned location embedding.
        min_log_std: smooth floor of the mixture's log standard deviations.
        loss_weights: weights of the loss parts added to the z NLL, keys among
            reward, done, xfer_mask, location_counts (each defaults to 1).
        seed: seed of the initializers and of the sampler.

    Argument spaces (B batch, T time; sequences are batch-major and padded):
        z, next_z: FloatBox (D,) [B, T, D]; xfers: IntBox(N + 1) [B, T];
        locations: IntBox(L) [B, T]; rewards: FloatBox () [B, T];
        dones: BoolBox () [B, T]; next_xfer_mask: BoolBox (N + 1,) [B, T];
        next_location_counts: IntBox(L + 1, shape (N,)) [B, T]; lengths:
        IntBox () [B], valid steps per episode (<= T); initial_hidden_state,
        initial_cell_state, hidden_state, cell_state: FloatBox (units,) [B];
        current_z: FloatBox (D,) [B]; current_xfers: IntBox(N + 1) [B];
        current_locations: IntBox(L) [B].

    API:
        predict(z, xfers, locations, initial_hidden_state=None,
                initial_cell_state=None, lengths=None)
            -> {mixture_logits [B, T, K], mixture_means [B, T, K, D],
                mixture_log_stds [B, T, K, D], reward [B, T], done_logits
                [B, T], xfer_validity_logits [B, T, N + 1],
                location_count_logits [B, T, N], hidden_state [B, units],
                cell_state [B, units]}. Untempered. The state starts at zeros
            unless given; with lengths it stops at each episode's last valid
            step, so the returned state is where a dream can continue.
        loss(z, xfers, locations, next_z, rewards, dones, next_xfer_mask,
             next_location_counts, lengths)
            -> {total_loss, z_nll, reward_loss, done_loss, xfer_mask_loss,
                location_count_loss}, scalars averaged over valid steps only.
        sample_next(current_z, current_xfers, current_locations, hidden_state,
                    cell_state)
            -> {next_z [B, D] (sampled with tau), reward [B],
                done_probability [B], xfer_mask bool [B, N + 1],
                location_counts int32 [B, N], hidden_state, cell_state}.

    Example:
        >>> model = MDNRNN(latent_size=4, num_xfers=3, max_locations=5, lstm_units=16, num_mixtures=2)
        >>> # loss(...) inside a root API, followed by Adam.step(loss["total_loss"])
    """

    def __init__(self, latent_size: int, num_xfers: int, max_locations: int, lstm_units: int = 256, num_mixtures: int = 8,
                 temperature: float = 1.0, xfer_embedding_size: int = 16, location_embedding_size: int = 8,
                 min_log_std: float = -5.0, loss_weights: Optional[Mapping[str, float]] = None, seed: int = 0,
                 scope: Optional[str] = None, device: Optional[str] = None, key_path: str = ""):
        super().__init__(scope=scope, device=device, key_path=key_path)
        where = key_path or "mdn_rnn"
        self.latent_size = check_positive_int(latent_size, f"{where}.latent_size")
        self.num_xfers = check_positive_int(num_xfers, f"{where}.num_xfers")
        self.max_locations = check_positive_int(max_locations, f"{where}.max_locations")
        self.lstm_units = check_positive_int(lstm_units, f"{where}.lstm_units")
        self.num_mixtures = check_positive_int(num_mixtures, f"{where}.num_mixtures")
        self.xfer_embedding_size = check_positive_int(xfer_embedding_size, f"{where}.xfer_embedding_size")
        self.location_embedding_size = check_positive_int(location_embedding_size, f"{where}.location_embedding_size")
        self.temperature = check_number_in_range(temperature, f"{where}.temperature", 0.0)
        self.min_log_std = check_number_in_range(min_log_std, f"{where}.min_log_std", -np.inf, np.inf)
        if loss_weights is None:
            loss_weights = {}
        if not isinstance(loss_weights, Mapping):
            raise SpecError(f"{where}.loss_weights", f"expected a mapping with keys among {list(LOSS_WEIGHT_NAMES)}, got {loss_weights!r}")
        unknown = sorted(set(loss_weights) - set(LOSS_WEIGHT_NAMES))
        if unknown:
            raise SpecError(f"{where}.loss_weights", f"unknown loss part(s) {unknown}; known: {list(LOSS_WEIGHT_NAMES)}")
        self.loss_weights = {name: check_number_in_range(loss_weights.get(name, 1.0), f"{where}.loss_weights.{name}", 0.0)
                             for name in LOSS_WEIGHT_NAMES}
        self.seed = seed
        units = {
            "mixture_logits": self.num_mixtures,
            "mixture_means": self.num_mixtures * self.latent_size,
            "mixture_log_stds": self.num_mixtures * self.latent_size,
            "reward": 1,
            "done": 1,
            "xfer_validity": self.num_xfers,
            "location_counts": self.num_xfers,
        }
        self.heads = {name: Dense(width, seed=seed, scope=name, key_path=where) for name, width in units.items()}
        self.add_components(*self.heads.values())

    # Variables ---------------------------------------------------------------
    def create_variables(self, input_spaces):
        import tensorflow as tf

        seed = component_seed(self.global_scope, self.seed)
        self.xfer_embedding = self.get_variable(
            "xfer_embedding", (self.num_xfers + 1, self.xfer_embedding_size), initializer=glorot_uniform(seed + 1))
        self.location_embedding = self.get_variable(
            "location_embedding", (self.max_locations, self.location_embedding_size), initializer=glorot_uniform(seed + 2))
        input_width = self.latent_size + self.xfer_embedding_size + self.location_embedding_size
        # One kernel for the four gates, in the order input, forget, candidate, output.
        self.lstm_kernel = self.get_variable(
            "lstm/kernel", (input_width + self.lstm_units, 4 * self.lstm_units), initializer=glorot_uniform(seed + 3))

        def forget_bias(shape, dtype):
            bias = np.zeros(shape, dtype)
            bias[self.lstm_units:2 * self.lstm_units] = FORGET_GATE_BIAS
            return bias

        self.lstm_bias = self.get_variable("lstm/bias", (4 * self.lstm_units,), initializer=forget_bias)
        self.generator = tf.random.Generator.from_seed(seed)
        # The generator owns its state variable; listing it makes checkpoints
        # restore the random stream too.
        self.variables["sampler_state"] = self.generator.state

    # API ---------------------------------------------------------------------
    @api
    def predict(self, z, xfers, locations, initial_hidden_state=None, initial_cell_state=None, lengths=None):
        """Per-step predictions over padded sequences (see the class docstring)."""
        outputs, hidden_state, cell_state = self._graph_fn_unroll(z, xfers, locations, initial_hidden_state, initial_cell_state, lengths)
        return dict(self._predictions(outputs), hidden_state=hidden_state, cell_state=cell_state)

    @api
    def loss(self, z, xfers, locations, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths):
        """The world-model loss and its parts, averaged over valid (unpadded) steps."""
        outputs, _, _ = self._graph_fn_unroll(z, xfers, locations, None, None, lengths)
        return self._graph_fn_loss(self._predictions(outputs), next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths)

    @api
    def sample_next(self, current_z, current_xfers, current_locations, hidden_state, cell_state):
        """One dream step: the sampled next latent, reward, done probability, masks and the new state."""
        new_hidden_state, new_cell_state = self._graph_fn_step(current_z, current_xfers, current_locations, hidden_state, cell_state)
        sampled = self._graph_fn_sample(self._predictions(new_hidden_state), new_hidden_state)
        return dict(sampled, hidden_state=new_hidden_state, cell_state=new_cell_state)

    def _predictions(self, lstm_outputs):
        """Routes the LSTM outputs through every head (API helper, no ops)."""
        raw = {name: head.apply(lstm_outputs) for name, head in self.heads.items()}
        return self._graph_fn_predictions(raw)

    # The LSTM ----------------------------------------------------------------
    def _lstm_step(self, inputs, hidden_state, cell_state):
        """One LSTM step (TF ops; shared by the unroll and the dream step)."""
        import tensorflow as tf

        gates = tf.matmul(tf.concat([inputs, hidden_state], axis=-1), self.lstm_kernel) + self.lstm_bias
        input_gate, forget_gate, candidate, output_gate = tf.split(gates, 4, axis=-1)
        new_cell_state = tf.sigmoid(forget_gate) * cell_state + tf.sigmoid(input_gate) * tf.tanh(candidate)
        new_hidden_state = tf.sigmoid(output_gate) * tf.tanh(new_cell_state)
        return new_hidden_state, new_cell_state

    def _step_inputs(self, z, xfers, locations):
        """[z, xfer embedding, location embedding] along the last axis (TF ops)."""
        import tensorflow as tf

        return tf.concat([z, tf.gather(self.xfer_embedding, tf.cast(xfers, tf.int32)),
                          tf.gather(self.location_embedding, tf.cast(locations, tf.int32))], axis=-1)

    def _zero_state_if_none(self, state, batch_size):
        import tensorflow as tf

        return tf.zeros(tf.stack([batch_size, self.lstm_units])) if state is None else state

    @graph_fn
    def _graph_fn_unroll(self, z, xfers, locations, initial_hidden_state, initial_cell_state, lengths):
        import tensorflow as tf

        shape = tf.shape(z)
        batch_size, time_steps = shape[0], shape[1]
        checks = [tf.debugging.assert_equal(tf.shape(value), shape[:2], message=(
            f"{self.global_scope}: argument {name} must be [B, T] like the first two dimensions of argument z"))
            for name, value in (("xfers", xfers), ("locations", locations))]
        if lengths is not None:
            checks.append(tf.debugging.assert_less_equal(tf.cast(lengths, tf.int32), time_steps, message=(
                f"{self.global_scope}: argument lengths holds a length above T, the padded time dimension of argument z")))
            checks.append(tf.debugging.assert_equal(tf.shape(lengths)[0], batch_size, message=(
                f"{self.global_scope}: argument lengths must hold one length per sequence of argument z")))
        # Shape errors surface as these messages, not as a failed concat later.
        with tf.control_dependencies(checks):
            z, xfers, locations = tf.identity(z), tf.identity(xfers), tf.identity(locations)
            lengths = None if lengths is None else tf.identity(lengths)
        inputs = self._step_inputs(z, xfers, locations)
        hidden_state = self._zero_state_if_none(initial_hidden_state, batch_size)
        cell_state = self._zero_state_if_none(initial_cell_state, batch_size)
        if lengths is None:
            valid = tf.ones(shape[:2], tf.bool)
        else:
            valid = tf.sequence_mask(lengths, time_steps)

        def step(carried, elements):
            _, hidden, cell = carried
            step_inputs, step_valid = elements
            new_hidden, new_cell = self._lstm_step(step_inputs, hidden, cell)
            # Past an episode's end the state stays put, so the final state is
            # the one after its last real step.
            keep = step_valid[:, None]
            return new_hidden, tf.where(keep, new_hidden, hidden), tf.where(keep, new_cell, cell)

        time_major_inputs = tf.transpose(inputs, [1, 0, 2])
        outputs, hidden_states, cell_states = tf.scan(
            step, (time_major_inputs, tf.transpose(valid)), initializer=(hidden_state, hidden_state, cell_state))
        # Prepending the initial state makes T = 0 return it unchanged.
        final_hidden_state = tf.concat([hidden_state[None], hidden_states], axis=0)[-1]
        final_cell_state = tf.concat([cell_state[None], cell_states], axis=0)[-1]
        return tf.transpose(outputs, [1, 0, 2]), final_hidden_state, final_cell_state

    @_graph_fn_unroll.output_spaces
    def _graph_fn_unroll(self, z, xfers, locations, initial_hidden_state, initial_cell_state, lengths):
        sequence = {"batch_rank": True, "time_rank": True}
        self._require_box(z, "z", FloatBox, (self.latent_size,), sequence, f"a FloatBox of shape ({self.latent_size},) (latent_size)")
        self._require_box(xfers, "xfers", IntBox, (), sequence, "an IntBox of xfer ids", high=self.num_xfers + 1)
        self._require_box(locations, "locations", IntBox, (), sequence, "an IntBox of location ids", high=self.max_locations)
        for name, state in (("initial_hidden_state", initial_hidden_state), ("initial_cell_state", initial_cell_state)):
            if state is not None:
                self._require_box(state, name, FloatBox, (self.lstm_units,), {"batch_rank": True},
                                  f"a FloatBox of shape ({self.lstm_units},) (lstm_units)")
        if lengths is not None:
            self._require_box(lengths, "lengths", IntBox, (), {"batch_rank": True}, "an IntBox of valid steps per sequence")
        state = FloatBox((self.lstm_units,), batch_rank=True)
        return FloatBox((self.lstm_units,), **sequence), state, state

    @graph_fn
    def _graph_fn_step(self, current_z, current_xfers, current_locations, hidden_state, cell_state):
        return self._lstm_step(self._step_inputs(current_z, current_xfers, current_locations), hidden_state, cell_state)

    @_graph_fn_step.output_spaces
    def _graph_fn_step(self, current_z, current_xfers, current_locations, hidden_state, cell_state):
        batch = {"batch_rank": True}
        self._require_box(current_z, "current_z", FloatBox, (self.latent_size,), batch,
                          f"a FloatBox of shape ({self.latent_size},) (latent_size)")
        self._require_box(current_xfers, "current_xfers", IntBox, (), batch, "an IntBox of xfer ids", high=self.num_xfers + 1)
        self._require_box(current_locations, "current_locations", IntBox, (), batch, "an IntBox of location ids",
                          high=self.max_locations)
        for name, state in (("hidden_state", hidden_state), ("cell_state", cell_state)):
            self._require_box(state, name, FloatBox, (self.lstm_units,), batch, f"a FloatBox of shape ({self.lstm_units},) (lstm_units)")
        state = FloatBox((self.lstm_units,), **batch)
        return state, state

    def _require_box(self, space, argument: str, kind: type, shape: tuple, ranks: dict, what: str, high: Optional[int] = None):
        """Trace-time check of one argument's type, shape, leading ranks and (for ids) bounds."""
        batch_rank, time_rank = ranks.get("batch_rank", False), ranks.get("time_rank", False)
        rank_text = "[B, T]" if time_rank else "[B]"
        expected = f"{what} with leading ranks {rank_text}, batch-major"
        if high is not None:
            expected += f", values in [0, {high})"
        ok = (isinstance(space, kind) and space.shape == shape and space.batch_rank == batch_rank
              and space.time_rank == time_rank and not space.time_major)
        if ok and kind is IntBox:
            ok = space.low >= 0 and (high is None or (space.high is not None and space.high <= high))
        self.require(ok, argument, expected, space)

    # Heads -------------------------------------------------------------------
    @graph_fn
    def _graph_fn_predictions(self, raw):
        import tensorflow as tf

        leading = tf.shape(raw["mixture_logits"])[:-1]
        mixture_shape = tf.concat([leading, [self.num_mixtures, self.latent_size]], axis=0)
        raw_log_stds = tf.reshape(raw["mixture_log_stds"], mixture_shape)
        validity = raw["xfer_validity"]
        no_op = tf.fill(tf.concat([leading, [1]], axis=0), tf.constant(ALWAYS_VALID_LOGIT, validity.dtype))
        return {
            "mixture_logits": raw["mixture_logits"],
            "mixture_means": tf.reshape(raw["mixture_means"], mixture_shape),
            "mixture_log_stds": self.min_log_std + tf.nn.softplus(raw_log_stds - self.min_log_std),
            "reward": tf.squeeze(raw["reward"], axis=-1),
            "done_logits": tf.squeeze(raw["done"], axis=-1),
            "xfer_validity_logits": tf.concat([validity, no_op], axis=-1),
            "location_count_logits": raw["location_counts"],
        }

    @_graph_fn_predictions.output_spaces
    def _graph_fn_predictions(self, raw):
        ranks = {"batch_rank": raw["reward"].batch_rank, "time_rank": raw["reward"].time_rank}
        mixture = (self.num_mixtures, self.latent_size)
        return {
            "mixture_logits": FloatBox((self.num_mixtures,), **ranks),
            "mixture_means": FloatBox(mixture, **ranks),
            "mixture_log_stds": FloatBox(mixture, low=self.min_log_std, **ranks),
            "reward": FloatBox((), **ranks),
            "done_logits": FloatBox((), **ranks),
            "xfer_validity_logits": FloatBox((self.num_xfers + 1,), **ranks),
            "location_count_logits": FloatBox((self.num_xfers,), **ranks),
        }

    # Loss --------------------------------------------------------------------
    @graph_fn
    def _graph_fn_loss(self, predictions, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths):
        import tensorflow as tf
        import tensorflow_probability as tfp

        distributions = tfp.distributions
        leading = tf.shape(predictions["reward"])
        checks = [tf.debugging.assert_equal(tf.shape(value)[:2], leading, message=(
            f"{self.global_scope}: argument {name} must be [B, T, ...] like arguments z, xfers and locations"))
            for name, value in (("next_z", next_z), ("rewards", rewards), ("dones", dones), ("next_xfer_mask", next_xfer_mask),
                                ("next_location_counts", next_location_counts))]
        with tf.control_dependencies(checks):
            next_z, rewards, dones, next_xfer_mask, next_location_counts = (
                tf.identity(value) for value in (next_z, rewards, dones, next_xfer_mask, next_location_counts))
        valid = tf.cast(tf.sequence_mask(lengths, leading[1]), tf.float32)
        valid_steps = tf.maximum(tf.reduce_sum(valid), 1.0)

        def mean_over_valid_steps(per_step):
            return tf.reduce_sum(per_step * valid) / valid_steps

        # Targets are data: no gradient flows into whatever produced next_z.
        next_z = tf.stop_gradient(next_z)
        mixture = distributions.MixtureSameFamily(
            mixture_distribution=distributions.Categorical(logits=predictions["mixture_logits"]),
            components_distribution=distributions.MultivariateNormalDiag(
                loc=predictions["mixture_means"], scale_diag=tf.exp(predictions["mixture_log_stds"])))
        z_nll = mean_over_valid_steps(-mixture.log_prob(next_z))
        reward_loss = mean_over_valid_steps(tf.square(predictions["reward"] - rewards))
        done_loss = mean_over_valid_steps(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.cast(dones, tf.float32), logits=predictions["done_logits"]))
        xfer_labels = tf.cast(next_xfer_mask[..., :self.num_xfers], tf.float32)
        xfer_mask_loss = mean_over_valid_steps(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=xfer_labels, logits=predictions["xfer_validity_logits"][..., :self.num_xfers]), axis=-1))
        counts = tf.cast(next_location_counts, tf.float32)
        fractions = counts / float(self.max_locations)
        cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=fractions, logits=predictions["location_count_logits"])
        # Subtracting the targets' own entropy turns the cross-entropy into a
        # KL divergence: same gradient, 0 for an exact count.
        target_entropy = -(tf.math.xlogy(fractions, fractions) + tf.math.xlogy(1.0 - fractions, 1.0 - fractions))
        applicable = tf.cast(counts > 0, tf.float32) * valid[..., None]
        location_count_loss = tf.reduce_sum((cross_entropy - target_entropy) * applicable) / tf.maximum(tf.reduce_sum(applicable), 1.0)
        weights = self.loss_weights
        total_loss = (z_nll + weights["reward"] * reward_loss + weights["done"] * done_loss
                      + weights["xfer_mask"] * xfer_mask_loss + weights["location_counts"] * location_count_loss)
        return {"total_loss": total_loss, "z_nll": z_nll, "reward_loss": reward_loss, "done_loss": done_loss,
                "xfer_mask_loss": xfer_mask_loss, "location_count_loss": location_count_loss}

    @_graph_fn_loss.output_spaces
    def _graph_fn_loss(self, predictions, next_z, rewards, dones, next_xfer_mask, next_location_counts, lengths):
        sequence = {"batch_rank": True, "time_rank": True}
        self._require_box(next_z, "next_z", FloatBox, (self.latent_size,), sequence,
                          f"a FloatBox of shape ({self.latent_size},) (latent_size)")
        self._require_box(rewards, "rewards", FloatBox, (), sequence, "a scalar FloatBox per step")
        self._require_box(dones, "dones", BoolBox, (), sequence, "a scalar BoolBox per step")
        self._require_box(next_xfer_mask, "next_xfer_mask", BoolBox, (self.num_xfers + 1,), sequence,
                          f"a BoolBox of shape ({self.num_xfers + 1},) (N xfers + NO-OP)")
        self._require_box(next_location_counts, "next_location_counts", IntBox, (self.num_xfers,), sequence,
                          f"an IntBox of shape ({self.num_xfers},) (one count per xfer)", high=self.max_locations + 1)
        self._require_box(lengths, "lengths", IntBox, (), {"batch_rank": True}, "an IntBox of valid steps per sequence")
        return {name: FloatBox(()) for name in LOSS_PARTS}

    # Dreaming ----------------------------------------------------------------
    @graph_fn
    def _graph_fn_sample(self, predictions, hidden_state):
        import tensorflow as tf

        logits = predictions["mixture_logits"]
        if self.temperature == 0.0:
            component = tf.argmax(logits, axis=-1, output_type=tf.int32)
        else:
            uniform = self.generator.uniform(tf.shape(logits), minval=np.finfo(np.float32).tiny, maxval=1.0)
            gumbel = -tf.math.log(-tf.math.log(uniform))
            component = tf.argmax(logits / self.temperature + gumbel, axis=-1, output_type=tf.int32)
        means, log_stds = self._drawn_component(hidden_state, component)
        noise = self.generator.normal(tf.shape(means))
        next_z = means + tf.exp(log_stds) * np.sqrt(self.temperature).astype(np.float32) * noise
        xfer_mask = predictions["xfer_validity_logits"] > 0.0
        fractions = tf.sigmoid(predictions["location_count_logits"])
        counts = tf.clip_by_value(tf.cast(tf.round(fractions * self.max_locations), tf.int32), 1, self.max_locations)
        location_counts = tf.where(xfer_mask[..., :self.num_xfers], counts, tf.zeros_like(counts))
        return {"next_z": next_z, "reward": predictions["reward"], "done_probability": tf.sigmoid(predictions["done_logits"]),
                "xfer_mask": xfer_mask, "location_counts": location_counts}

    @_graph_fn_sample.output_spaces
    def _graph_fn_sample(self, predictions, hidden_state):
        batch = {"batch_rank": True}
        return {
            "next_z": FloatBox((self.latent_size,), **batch),
            "reward": FloatBox((), **batch),
            "done_probability": FloatBox((), low=0.0, high=1.0, **batch),
            "xfer_mask": BoolBox((self.num_xfers + 1,), **batch),
            "location_counts": IntBox(self.max_locations + 1, shape=(self.num_xfers,), **batch),
        }

    def _drawn_component(self, hidden_state, component):
        """Mean and floored log-std [B, D] of each row's drawn mixture component (TF ops).

        The same values as the heads' full [B, K, D] outputs at `component`,
        computed for the drawn component only: the rows are partitioned by
        component and each part meets its component's D kernel columns of the
        two heads. Sampling needs nothing else of those heads, so the dream
        step's graph never consumes their full-width outputs and TF prunes
        them (they are K times the work, most of the heads' cost).
        """
        import tensorflow as tf

        width = self.latent_size
        per_component = []
        for name in ("mixture_means", "mixture_log_stds"):
            head = self.heads[name]
            # Column k * D + d of a head is dimension d of component k.
            per_component.append((tf.reshape(head.kernel, [self.lstm_units, self.num_mixtures, width]),
                                  tf.reshape(head.bias, [self.num_mixtures, width])))
        (means_kernel, means_bias), (log_stds_kernel, log_stds_bias) = per_component
        kernels = tf.transpose(tf.concat([means_kernel, log_stds_kernel], axis=-1), [1, 0, 2])   # [K, units, 2D]
        biases = tf.concat([means_bias, log_stds_bias], axis=-1)                                    # [K, 2D]
        rows = tf.range(tf.shape(hidden_state)[0])
        parts = tf.dynamic_partition(hidden_state, component, self.num_mixtures)
        part_rows = tf.dynamic_partition(rows, component, self.num_mixtures)
        outputs = tf.dynamic_stitch(part_rows, [tf.matmul(parts[k], kernels[k]) + biases[k] for k in range(self.num_mixtures)])
        means, raw_log_stds = outputs[:, :width], outputs[:, width:]
        return means, self.min_log_std + tf.nn.softplus(raw_log_stds - self.min_log_std)
