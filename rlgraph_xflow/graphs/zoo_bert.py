"""BERT-base encoder as an ONNX graph, laid out like Hugging Face's BertModel export.

Holds:
  bert_base: Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional
    Transformers": 12 layers, hidden 768, 12 heads, intermediate 3072, vocabulary
    30522, 512 positions, 2 token types (about 110M parameters with the
    embeddings). Input int64 "input_ids" [B, S] (and, optionally, a float32
    "attention_mask" [B, S] of 1 = attend / 0 = padding); output the last
    hidden state [B, S, 768].

The graph is written from primitive ops only (MatMul + Add for each dense
layer, Reshape/Transpose for the heads, Div by sqrt(64), Softmax, GELU as
x * 0.5 * (1 + erf(x / sqrt 2)), LayerNormalization), so the engine sees the
same pieces an exported transformer has. The mask is float32 because the op
vocabulary has no Cast; it becomes the usual additive (1 - mask) * -10000.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto

from rlgraph_xflow.graphs.zoo_builder import GraphBuilder

_LAYERS = 12
_HIDDEN = 768
_HEADS = 12
_HEAD_SIZE = _HIDDEN // _HEADS
_INTERMEDIATE = 3072
_VOCABULARY = 30522
_MAX_POSITIONS = 512
_TOKEN_TYPES = 2
# BERT's initializer_range: every dense and embedding weight is drawn from N(0, 0.02^2).
_WEIGHT_STANDARD_DEVIATION = 0.02


def _dense(builder: GraphBuilder, data: str, out_features: int, name: str) -> str:
    in_features = builder.shapes[data][-1]
    weight = builder.initializer(f"{name}.weight", builder.normal([in_features, out_features], _WEIGHT_STANDARD_DEVIATION))
    bias = builder.initializer(f"{name}.bias", builder.normal([out_features], _WEIGHT_STANDARD_DEVIATION))
    return builder.binary("Add", builder.matmul(data, weight, f"{name}.MatMul"), bias, f"{name}.Add")


def _split_heads(builder: GraphBuilder, data: str, permutation: list[int], name: str) -> str:
    batch, sequence = builder.shapes[data][:2]
    heads = builder.reshape(data, [batch, sequence, _HEADS, _HEAD_SIZE], f"{name}.Reshape")
    return builder.transpose(heads, permutation, f"{name}.Transpose")


def _encoder_layer(builder: GraphBuilder, hidden: str, additive_mask: str | None, constants: dict[str, str], name: str) -> str:
    batch, sequence = builder.shapes[hidden][:2]
    attention = f"{name}.attention"
    # Query and value become [B, heads, S, 64]; the key goes straight to [B, heads, 64, S].
    query = _split_heads(builder, _dense(builder, hidden, _HIDDEN, f"{attention}.self.query"), [0, 2, 1, 3], f"{attention}.self.query_heads")
    key = _split_heads(builder, _dense(builder, hidden, _HIDDEN, f"{attention}.self.key"), [0, 2, 3, 1], f"{attention}.self.key_heads")
    value = _split_heads(builder, _dense(builder, hidden, _HIDDEN, f"{attention}.self.value"), [0, 2, 1, 3], f"{attention}.self.value_heads")
    scores = builder.matmul(query, key, f"{attention}.self.scores.MatMul")
    scores = builder.binary("Div", scores, constants["sqrt_head_size"], f"{attention}.self.scores.Div")
    if additive_mask is not None:
        scores = builder.binary("Add", scores, additive_mask, f"{attention}.self.scores.mask_Add")
    probabilities = builder.softmax(scores, f"{attention}.self.Softmax")
    context = builder.matmul(probabilities, value, f"{attention}.self.context.MatMul")
    context = builder.transpose(context, [0, 2, 1, 3], f"{attention}.self.context.Transpose")
    context = builder.reshape(context, [batch, sequence, _HIDDEN], f"{attention}.self.context.Reshape")
    attended = _dense(builder, context, _HIDDEN, f"{attention}.output.dense")
    attended = builder.binary("Add", attended, hidden, f"{attention}.output.residual_Add")
    attended = builder.layer_norm(attended, f"{attention}.output.LayerNorm")

    intermediate = _dense(builder, attended, _INTERMEDIATE, f"{name}.intermediate.dense")
    gelu = f"{name}.intermediate.gelu"
    scaled = builder.binary("Div", intermediate, constants["sqrt_two"], f"{gelu}.Div")
    error_function = builder.unary("Erf", scaled, f"{gelu}.Erf")
    shifted = builder.binary("Add", error_function, constants["one"], f"{gelu}.Add")
    gated = builder.binary("Mul", intermediate, shifted, f"{gelu}.Mul")
    activated = builder.binary("Mul", gated, constants["half"], f"{gelu}.Mul_half")

    output = _dense(builder, activated, _HIDDEN, f"{name}.output.dense")
    output = builder.binary("Add", output, attended, f"{name}.output.residual_Add")
    return builder.layer_norm(output, f"{name}.output.LayerNorm")


def bert_base(batch_size: int = 1, seed: int = 0, sequence_length: int = 64, attention_mask: bool = False,
              layers: int = _LAYERS) -> onnx.ModelProto:
    """BERT-base encoder: input_ids [B, S] int64 -> "last_hidden_state" [B, S, 768] float32.

    Args:
        batch_size: the static batch dimension.
        seed: seed of the numpy Generator that draws every weight.
        sequence_length: tokens per sequence, 1..512.
        attention_mask: add a float32 "attention_mask" [B, S] input (1 keeps a
            token, 0 masks it out of every attention).
        layers: encoder layers, 1..12. BERT-base has 12; fewer give the same
            layers in a smaller graph (what curriculum pretraining trains on;
            README, "Training an agent").

    Returns:
        The model at opset 17.

    Raises:
        ValueError: sequence_length outside 1..512, or layers outside 1..12.
    """
    if not 1 <= sequence_length <= _MAX_POSITIONS:
        raise ValueError(f"bert_base: sequence_length must be in 1..{_MAX_POSITIONS}, found {sequence_length}")
    if not 1 <= layers <= _LAYERS:
        raise ValueError(f"bert_base: layers must be in 1..{_LAYERS}, found {layers}")
    builder = GraphBuilder(
        "bert_base",
        seed,
        doc_string=f"bert_base encoder ({layers} layers, hidden 768), random weights from seed {seed}, "
        f"sequence length {sequence_length}",
    )
    input_ids = builder.input("input_ids", [batch_size, sequence_length], TensorProto.INT64)
    constants = {
        "sqrt_head_size": builder.float_scalar("constant.sqrt_head_size", math.sqrt(_HEAD_SIZE)),
        "sqrt_two": builder.float_scalar("constant.sqrt_two", math.sqrt(2.0)),
        "one": builder.float_scalar("constant.one", 1.0),
        "half": builder.float_scalar("constant.half", 0.5),
    }
    additive_mask = None
    if attention_mask:
        mask = builder.input("attention_mask", [batch_size, sequence_length])
        mask = builder.unsqueeze(mask, [1, 2], "extended_attention_mask.Unsqueeze")
        inverted = builder.binary("Sub", constants["one"], mask, "extended_attention_mask.Sub")
        minus_large = builder.float_scalar("constant.minus_ten_thousand", -10000.0)
        additive_mask = builder.binary("Mul", inverted, minus_large, "extended_attention_mask.Mul")

    word_table = builder.initializer(
        "embeddings.word_embeddings.weight", builder.normal([_VOCABULARY, _HIDDEN], _WEIGHT_STANDARD_DEVIATION)
    )
    position_table = builder.initializer(
        "embeddings.position_embeddings.weight", builder.normal([_MAX_POSITIONS, _HIDDEN], _WEIGHT_STANDARD_DEVIATION)
    )
    token_type_table = builder.initializer(
        "embeddings.token_type_embeddings.weight", builder.normal([_TOKEN_TYPES, _HIDDEN], _WEIGHT_STANDARD_DEVIATION)
    )
    position_ids = builder.initializer("embeddings.position_ids", np.arange(sequence_length, dtype=np.int64)[None, :])
    # Every token belongs to segment 0, as when a caller passes no token_type_ids.
    token_type_ids = builder.initializer("embeddings.token_type_ids", np.zeros((1, sequence_length), dtype=np.int64))
    embedded = builder.gather(word_table, input_ids, "embeddings.word_embeddings")
    embedded = builder.binary(
        "Add", embedded, builder.gather(position_table, position_ids, "embeddings.position_embeddings"), "embeddings.position_Add"
    )
    embedded = builder.binary(
        "Add",
        embedded,
        builder.gather(token_type_table, token_type_ids, "embeddings.token_type_embeddings"),
        "embeddings.token_type_Add",
    )
    hidden = builder.layer_norm(embedded, "embeddings.LayerNorm")
    for layer in range(layers):
        hidden = _encoder_layer(builder, hidden, additive_mask, constants, f"encoder.layer.{layer}")
    builder.output(builder.unary("Identity", hidden, "last_hidden_state"))
    return builder.to_model()
