"""Networks over a flat parameter vector θ: layers, initializers, losses, gradient check, checkpoints.

net = dl.nn.mlp([2, 16, 16, 1], activation="relu", output="sigmoid", init="he", seed=0)
J = net.loss_and_grad(X, y, loss="bce")     # fills net.grads
opt.step(net.params, net.grads)             # one step for the whole network
dl.nn.save("run.npz", net, optimizer=opt)   # plain arrays + JSON; dl.nn.load("run.npz") resumes it
"""

from descentlab.nn.checkpoint import Checkpoint, load, save
from descentlab.nn.gradient_check import gradcheck
from descentlab.nn.initializers import (
    INITIALIZERS,
    constant,
    get_initializer,
    he_normal,
    he_uniform,
    lecun_normal,
    normal,
    too_large,
    too_small,
    uniform,
    xavier_normal,
    xavier_uniform,
    zeros,
)
from descentlab.nn.layers import (
    ACTIVATIONS,
    LAYERS,
    Activation,
    BatchNorm,
    Dense,
    Dropout,
    Layer,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from descentlab.nn.losses import LOSSES, Loss
from descentlab.nn.network import Network, ParamRecord, mlp

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LAYERS",
    "LOSSES",
    "Activation",
    "BatchNorm",
    "Checkpoint",
    "Dense",
    "Dropout",
    "Layer",
    "LeakyReLU",
    "Loss",
    "Network",
    "ParamRecord",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "constant",
    "get_initializer",
    "gradcheck",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "load",
    "mlp",
    "normal",
    "save",
    "too_large",
    "too_small",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]
