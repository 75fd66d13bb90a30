"""Tests for the real-latency protocol (rlgraph_xflow.graphs.latency).

The verdict logic is checked on injected round medians, the alternation on
fake calls that record their order, and the whole protocol once in
onnxruntime on two convolutions whose work differs 49-fold.
"""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rlgraph_xflow.graphs.latency import (
    VERDICTS,
    LatencyComparison,
    LatencyProtocol,
    LatencySamples,
    compare_latencies,
    create_timing_session,
    latency_line,
    time_models,
    time_sessions,
)


def samples(*milliseconds):
    return LatencySamples(tuple(milliseconds))


def test_verdicts_on_injected_samples():
    original = samples(2.0, 2.1, 1.9, 2.0, 2.0)
    slower = compare_latencies(original, samples(2.4, 2.5, 2.3, 2.4, 2.4), min_noise=0.02)
    assert slower.verdict == "slower" and slower.change == pytest.approx(0.2)
    assert slower.original_ms == 2.0 and slower.candidate_ms == 2.4
    faster = compare_latencies(original, samples(1.6, 1.7, 1.5, 1.6, 1.6), min_noise=0.02)
    assert faster.verdict == "faster" and faster.change == pytest.approx(-0.2)
    same = compare_latencies(original, samples(2.02, 2.1, 1.9, 1.99, 2.0), min_noise=0.02)
    assert same.verdict == "same" and abs(same.change) <= same.noise
    assert {slower.verdict, faster.verdict, same.verdict} == set(VERDICTS)
    assert slower.to_dict() == {"original_ms": 2.0, "candidate_ms": 2.4, "change": slower.change, "noise": slower.noise, "verdict": "slower"}


def test_the_band_reaches_the_round_nearest_no_change_and_is_floored_at_min_noise():
    original = samples(1.0, 1.0, 1.0)
    # Per-round ratios 1.10, 0.99, 1.05: median 1.05, and one round saw the candidate faster: the band reaches 0.99.
    mixed = compare_latencies(original, samples(1.10, 0.99, 1.05), min_noise=0.02)
    assert mixed.change == pytest.approx(0.05) and mixed.noise == pytest.approx(0.06) and mixed.verdict == "same"
    # Ratios 1.10, 1.04, 1.50: every round slower; the outlier far from no change does not widen the band towards it.
    outlier = compare_latencies(original, samples(1.10, 1.04, 1.50), min_noise=0.02)
    assert outlier.change == pytest.approx(0.10) and outlier.noise == pytest.approx(0.06) and outlier.verdict == "slower"
    # The same below zero: the band's edge towards no change is the largest ratio.
    below = compare_latencies(original, samples(0.90, 0.97, 0.50), min_noise=0.02)
    assert below.change == pytest.approx(-0.10) and below.noise == pytest.approx(0.07) and below.verdict == "faster"
    # Steady rounds: the floor decides. A 3% change is "slower" over a 2% floor, "same" under a 5% one.
    steady = samples(1.03, 1.03, 1.03)
    assert compare_latencies(original, steady, min_noise=0.02).noise == 0.02
    assert compare_latencies(original, steady, min_noise=0.02).verdict == "slower"
    assert compare_latencies(original, steady, min_noise=0.05).verdict == "same"
    # A slow spell that hits both models of a round alike does not move the ratios.
    disturbed = compare_latencies(samples(1.0, 3.0, 1.0), samples(0.8, 2.4, 0.8), min_noise=0.02)
    assert disturbed.verdict == "faster" and disturbed.change == pytest.approx(-0.2) and disturbed.noise == 0.02
    assert samples(3.0, 1.0, 2.0, 9.0).median_ms == 2.5


def test_protocol_settings():
    default = LatencyProtocol()
    assert (default.rounds, default.runs_per_round, default.warmup, default.min_noise) == (7, 10, 5, 0.02)
    assert default.describe() == ("onnxruntime CPU, spinning off, 7 alternating rounds x 10 runs after 5 warm-up, "
                                  "median of round medians, noise floor 2%")
    assert default.to_dict() == {"rounds": 7, "runs_per_round": 10, "warmup": 5, "min_noise": 0.02}
    # Another runtime's timings name that runtime first; the protocol's part stays.
    assert LatencyProtocol.fast().describe("tensorflow CPU") == ("tensorflow CPU, 3 alternating rounds x 3 runs after 1 warm-up, "
                                                                 "median of round medians, noise floor 2%")
    assert latency_line(2.0, 1.5, -0.25, 0.03, "faster") == "onnxruntime CPU latency 2.000 -> 1.500 ms (-25.0% ± 3.0%, faster)"
    assert latency_line(2.0, 1.5, -0.25, 0.03, "faster", runtime="tensorflow CPU").startswith("tensorflow CPU latency 2.000 -> 1.500 ms")
    fast = LatencyProtocol.fast()
    assert fast.rounds * fast.runs_per_round < default.rounds * default.runs_per_round and fast.min_noise == default.min_noise


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: LatencyProtocol(rounds=0), r"LatencyProtocol: rounds must be an int >= 1, found 0"),
        (lambda: LatencyProtocol(runs_per_round=True), r"runs_per_round must be an int >= 1, found True"),
        (lambda: LatencyProtocol(warmup=-1), r"warmup must be an int >= 0, found -1"),
        (lambda: LatencyProtocol(rounds=2.5), r"rounds must be an int >= 1, found 2.5"),
        (lambda: LatencyProtocol(min_noise=1.0), r"min_noise must be a number in \[0, 1\)"),
        (lambda: LatencySamples(()), r"round_medians_ms must be a non-empty sequence"),
        (lambda: LatencySamples((1.0, 0.0)), r"round_medians_ms\[1\] must be a finite number > 0, found 0.0"),
        (lambda: LatencySamples((float("nan"),)), r"round_medians_ms\[0\] must be a finite number > 0"),
        (lambda: compare_latencies(samples(1.0, 1.0), samples(1.0), 0.02), r"same rounds, found 2 and 1 round medians"),
        (lambda: compare_latencies(samples(1.0), samples(1.0), -0.1), r"compare_latencies: min_noise must be a number in \[0, 1\)"),
        (lambda: compare_latencies([1.0], samples(1.0), 0.02), r"original must be LatencySamples, found list"),
        (lambda: time_sessions([], LatencyProtocol.fast()), r"time_sessions: calls must be a non-empty sequence of callables"),
        (lambda: time_sessions([lambda: None, 3], LatencyProtocol.fast()), r"calls\[1\] must be callable, found int"),
        (lambda: time_sessions([lambda: None], {"rounds": 3}), r"time_sessions: protocol must be a LatencyProtocol, found dict"),
        (lambda: time_models("model.onnx", {}, LatencyProtocol.fast()), r"time_models: models must be a non-empty sequence"),
        (lambda: time_models([3], {}, LatencyProtocol.fast()), r"models\[0\] must be an onnx.ModelProto or a path, found int"),
        (lambda: time_models(["a.onnx", "b.onnx"], [{}], LatencyProtocol.fast()), r"feeds must be one mapping .* or one per model \(2\)"),
    ],
)
def test_bad_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_calls_alternate_round_by_round():
    order = []
    calls = [lambda name=name: order.append(name) for name in "ab"]
    protocol = LatencyProtocol(rounds=3, runs_per_round=2, warmup=1)
    original, candidate = time_sessions(calls, protocol)
    assert order == list("ab" + "aabb" + "bbaa" + "aabb")
    assert len(original.round_medians_ms) == len(candidate.round_medians_ms) == 3
    # Three calls rotate: each one starts a round in turn.
    order.clear()
    time_sessions([lambda name=name: order.append(name) for name in "abc"], LatencyProtocol(rounds=3, runs_per_round=1, warmup=0))
    assert "".join(order) == "abc" + "bca" + "cab"


def _conv_model(kernel: int, channels: int = 64, size: int = 32) -> onnx.ModelProto:
    """One convolution, channels -> channels, 'same' padding: a 7x7 kernel does 49 times a 1x1's work."""
    weight = np.random.default_rng(0).standard_normal((channels, channels, kernel, kernel)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[kernel // 2] * 4)],
        f"conv{kernel}x{kernel}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, size, size])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_a_49_fold_convolution_is_slower_and_a_model_against_itself_is_the_same(tmp_path):
    small, big = _conv_model(1), _conv_model(7)
    feeds = {"x": np.random.default_rng(1).standard_normal((1, 64, 32, 32)).astype(np.float32)}
    session_options = create_timing_session(small).get_session_options()
    assert session_options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options.get_session_config_entry("session.inter_op.allow_spinning") == "0"

    protocol = LatencyProtocol.fast()
    small_samples, big_samples = time_models([small, big], [feeds, feeds], protocol)
    assert big_samples.median_ms > 1.0, "the slow side should take over a millisecond"
    slower = compare_latencies(small_samples, big_samples, protocol.min_noise)
    assert isinstance(slower, LatencyComparison) and slower.verdict == "slower" and slower.change > 2
    assert compare_latencies(big_samples, small_samples, protocol.min_noise).verdict == "faster"

    path = tmp_path / "big.onnx"
    onnx.save(big, path)
    steadier = LatencyProtocol(rounds=5, runs_per_round=5, warmup=2)
    first, second = time_models([big, str(path)], feeds, steadier)
    same = compare_latencies(first, second, steadier.min_noise)
    assert same.verdict == "same", same
