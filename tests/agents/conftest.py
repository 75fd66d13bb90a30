"""Fixtures the PPO agent and trainer tests share: the packaged rules and a tiny Conv-BN-ReLU graph."""
import pytest

from rlgraph_xflow.graphs import substitutions
from rlgraph_xflow.graphs.onnx_io import load
from tests.agents.tiny_graphs import conv_bn_relu_chain


@pytest.fixture(scope="module")
def rules():
    return substitutions.load_rules()


@pytest.fixture(scope="module")
def tiny_graph():
    return load(conv_bn_relu_chain())
