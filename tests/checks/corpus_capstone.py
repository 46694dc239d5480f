"""A regression corpus of real-code styles for notebook 6 (loss, update rules, the ConvNet).

Implementations written the way students write them: the classic assignment's vectorised
softmax with ``np.sum(...) / N``, Python-2-era loops over the examples, the naive softmax
without the shift, a shift broadcast without ``keepdims``, ``np.log`` of probabilities, Adam in
the paper's "efficient" form (epsilon scaled by the bias correction), ``t`` counted after the
update, a velocity stored as torch's buffer, a ConvNet drawn from the global ``np.random``, one
with the ``reg * sum(W**2)`` convention, one that makes a new ``bn_param`` at every call...
Some are right, some are wrong; which is which is *not* written here: test_corpus_capstone.py
decides it with its own float64 torch oracle and checks that the grader agrees.

Each entry: the code (one submission, self-contained: the networks import the reference layers
as the notebook's setup cell does) and the grade ids of the checks it is graded on.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    code: str
    checks: tuple[str, ...]


LAYERS = '''
import numpy as np
from cnnlib.layers import (affine_backward, affine_forward, conv_backward, conv_forward,
                           max_pool_backward, max_pool_forward, relu_backward, relu_forward,
                           spatial_batchnorm_backward, spatial_batchnorm_forward)
'''

SOFTMAX = '''
def softmax_loss(x, y):
    shifted_logits = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
    log_probs = shifted_logits - np.log(Z)
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
'''

# The body of a classic ConvNet; the entries change one piece of it.
NET_INIT = '''
class ThreeLayerConvNet(object):
    def __init__(self, input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=100,
                 num_classes=10, weight_scale=1e-2, reg=0.0, batchnorm=False,
                 dtype=np.float64, seed=None):
        self.params = {}
        self.reg = reg
        self.dtype = dtype
        self.batchnorm = batchnorm
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        self.bn_param = {"mode": "train"}
        rng = np.random.default_rng(seed)
        C, H, W = input_dim
        self.params['W1'] = np.random.normal(0, weight_scale, (num_filters, C, filter_size,
                                                              filter_size))
        self.params['b1'] = np.zeros(num_filters)
        if self.batchnorm:
            self.params['gamma1'] = np.ones(num_filters)
            self.params['beta1'] = np.zeros(num_filters)
        self.params['W2'] = np.random.normal(0, weight_scale,
                                             (num_filters * H * W // 4, hidden_dim))
        self.params['b2'] = np.zeros(hidden_dim)
        self.params['W3'] = np.random.normal(0, weight_scale, (hidden_dim, num_classes))
        self.params['b3'] = np.zeros(num_classes)
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)
'''

NET_LOSS = '''
    def loss(self, X, y=None):
        X = X.astype(self.dtype)
        mode = 'test' if y is None else 'train'
        self.bn_param['mode'] = mode
        W1, b1 = self.params['W1'], self.params['b1']
        W2, b2 = self.params['W2'], self.params['b2']
        W3, b3 = self.params['W3'], self.params['b3']
        a, conv_cache = conv_forward(X, W1, b1, self.conv_param)
        if self.batchnorm:
            a, bn_cache = spatial_batchnorm_forward(a, self.params['gamma1'],
                                                    self.params['beta1'], self.bn_param)
        a, r1_cache = relu_forward(a)
        a, pool_cache = max_pool_forward(a, self.pool_param)
        h, fc1_cache = affine_forward(a, W2, b2)
        h, r2_cache = relu_forward(h)
        scores, fc2_cache = affine_forward(h, W3, b3)
        if y is None:
            return scores
        grads = {}
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2) + np.sum(W3 * W3))
        dh, grads['W3'], grads['b3'] = affine_backward(dscores, fc2_cache)
        dh = relu_backward(dh, r2_cache)
        da, grads['W2'], grads['b2'] = affine_backward(dh, fc1_cache)
        da = max_pool_backward(da, pool_cache)
        da = relu_backward(da, r1_cache)
        if self.batchnorm:
            da, grads['gamma1'], grads['beta1'] = spatial_batchnorm_backward(da, bn_cache)
        dx, grads['W1'], grads['b1'] = conv_backward(da, conv_cache)
        grads['W3'] += self.reg * W3
        grads['W2'] += self.reg * W2
        grads['W1'] += self.reg * W1
        return loss, grads
'''

CLASSIC_NET = LAYERS + SOFTMAX + NET_INIT + NET_LOSS
NET_CHECKS = ("test_convnet", "test_overfit")

CORPUS: dict[str, Entry] = {
    # The classic assignment's vectorised softmax, and its update rules.
    "classic vectorised": Entry(LAYERS + SOFTMAX + '''

def sgd_momentum(w, dw, config=None):
    if config is None: config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('momentum', 0.9)
    v = config.get('velocity', np.zeros_like(w))
    v = config['momentum'] * v - config['learning_rate'] * dw
    next_w = w + v
    config['velocity'] = v
    return next_w, config


def adam(w, dw, config=None):
    if config is None: config = {}
    config.setdefault('learning_rate', 1e-3)
    config.setdefault('beta1', 0.9)
    config.setdefault('beta2', 0.999)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('m', np.zeros_like(w))
    config.setdefault('v', np.zeros_like(w))
    config.setdefault('t', 0)
    config['t'] += 1
    config['m'] = config['beta1'] * config['m'] + (1 - config['beta1']) * dw
    mt = config['m'] / (1 - config['beta1'] ** config['t'])
    config['v'] = config['beta2'] * config['v'] + (1 - config['beta2']) * (dw ** 2)
    vt = config['v'] / (1 - config['beta2'] ** config['t'])
    next_w = w - config['learning_rate'] * mt / (np.sqrt(vt) + config['epsilon'])
    return next_w, config
''', ("test_softmax_loss", "test_sgd_momentum", "test_adam")),

    # Python-2-era loops over the examples (xrange -> range), with the shift.
    "python-2 loops": Entry('''
import numpy as np


def softmax_loss(x, y):
    num_train, num_classes = x.shape
    loss = 0.0
    dx = np.zeros_like(x)
    for i in range(num_train):
        scores = x[i] - np.max(x[i])
        sum_exp = 0.0
        for j in range(num_classes):
            sum_exp += np.exp(scores[j])
        loss += -scores[y[i]] + np.log(sum_exp)
        for j in range(num_classes):
            p = np.exp(scores[j]) / sum_exp
            dx[i, j] = p - (j == y[i])
    loss /= num_train
    dx /= num_train
    return loss, dx


def sgd_momentum(w, dw, config=None):
    if config is None: config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('momentum', 0.9)
    v = config.get('velocity', np.zeros_like(w))
    next_w = np.zeros_like(w)
    for i in range(w.size):
        v.flat[i] = config['momentum'] * v.flat[i] - config['learning_rate'] * dw.flat[i]
        next_w.flat[i] = w.flat[i] + v.flat[i]
    config['velocity'] = v
    return next_w, config
''', ("test_softmax_loss", "test_sgd_momentum")),

    # The naive softmax: no shift, exp of the raw scores.
    "naive softmax without the shift": Entry('''
import numpy as np


def softmax_loss(x, y):
    N = x.shape[0]
    probs = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N
''', ("test_softmax_loss",)),

    # The shift is there, but log of the probabilities (0 for a class far below the max).
    "log of probabilities": Entry('''
import numpy as np


def softmax_loss(x, y):
    N = x.shape[0]
    e = np.exp(x - x.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[range(N), y]))
    dx = probs
    dx[range(N), y] -= 1
    return loss, dx / N
''', ("test_softmax_loss",)),

    # The shift without keepdims: (N, C) - (N,) broadcasts only when N == C, and wrongly.
    "shift without keepdims": Entry('''
import numpy as np


def softmax_loss(x, y):
    N = x.shape[0]
    shifted = x - np.max(x, axis=1)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1))[:, None]
    loss = -log_probs[np.arange(N), y].sum() / N
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return loss, dx / N


def sgd_momentum(w, dw, config=None):
    config = config or {}
    lr = config.get('learning_rate', 1e-2)
    mu = config.get('momentum', 0.9)
    v = mu * config.get('velocity', 0) - lr * dw
    config['learning_rate'], config['momentum'], config['velocity'] = lr, mu, v
    return w + v, config
''', ("test_softmax_loss", "test_sgd_momentum")),

    # Momentum as torch writes it: the buffer b = mu b + dw, w -= lr b, kept as 'velocity'.
    "torch-style momentum buffer": Entry('''
import numpy as np


def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    lr = config.setdefault('learning_rate', 1e-2)
    mu = config.setdefault('momentum', 0.9)
    buf = config.get('velocity')
    buf = dw.copy() if buf is None else mu * buf + dw
    config['velocity'] = buf
    return w - lr * buf, config
''', ("test_sgd_momentum",)),

    # Adam in the paper's "efficient" form: the corrections folded into the step size.
    "adam, efficient form": Entry('''
import numpy as np


def adam(w, dw, config=None):
    if config is None: config = {}
    config.setdefault('learning_rate', 1e-3)
    config.setdefault('beta1', 0.9)
    config.setdefault('beta2', 0.999)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('m', np.zeros_like(w))
    config.setdefault('v', np.zeros_like(w))
    config.setdefault('t', 0)
    b1, b2 = config['beta1'], config['beta2']
    config['t'] += 1
    t = config['t']
    config['m'] = b1 * config['m'] + (1 - b1) * dw
    config['v'] = b2 * config['v'] + (1 - b2) * dw * dw
    alpha = config['learning_rate'] * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    next_w = w - alpha * config['m'] / (np.sqrt(config['v']) + config['epsilon'])
    return next_w, config
''', ("test_adam",)),

    # Adam whose step counter is raised after the update: t = 0 at the first step.
    "adam, t counted late": Entry('''
import numpy as np


def adam(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-3)
    config.setdefault('beta1', 0.9)
    config.setdefault('beta2', 0.999)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('m', np.zeros_like(w))
    config.setdefault('v', np.zeros_like(w))
    config.setdefault('t', 0)
    m = config['beta1'] * config['m'] + (1 - config['beta1']) * dw
    v = config['beta2'] * config['v'] + (1 - config['beta2']) * dw ** 2
    m_hat = m / (1 - config['beta1'] ** config['t'])
    v_hat = v / (1 - config['beta2'] ** config['t'])
    next_w = w - config['learning_rate'] * m_hat / (np.sqrt(v_hat) + config['epsilon'])
    config['m'], config['v'], config['t'] = m, v, config['t'] + 1
    return next_w, config
''', ("test_adam",)),

    # The classic ConvNet, weights drawn from the global np.random.
    "classic ConvNet": Entry(CLASSIC_NET, NET_CHECKS),

    # reg * sum(W^2) with gradient 2 reg W: consistent, but not the stated convention.
    "ConvNet with reg * sum(W^2)": Entry(CLASSIC_NET.replace(
        "loss += 0.5 * self.reg *", "loss += self.reg *").replace(
        "grads['W3'] += self.reg * W3\n        grads['W2'] += self.reg * W2\n"
        "        grads['W1'] += self.reg * W1",
        "grads['W3'] += 2 * self.reg * W3\n        grads['W2'] += 2 * self.reg * W2\n"
        "        grads['W1'] += 2 * self.reg * W1"), NET_CHECKS),

    # A new bn_param at every call: the running averages are lost between calls.
    "ConvNet with a fresh bn_param per call": Entry(CLASSIC_NET.replace(
        "        self.bn_param['mode'] = mode\n",
        "        self.bn_param = {'mode': mode}\n"), NET_CHECKS),

    # Every parameter regularised, biases and gamma/beta included.
    "ConvNet regularising everything": Entry(CLASSIC_NET.replace(
        "        grads['W3'] += self.reg * W3\n        grads['W2'] += self.reg * W2\n"
        "        grads['W1'] += self.reg * W1\n",
        "        for k in grads:\n            grads[k] += self.reg * self.params[k]\n"),
        NET_CHECKS),

    # The weights unpacked into attributes once, at init: a new params dict changes nothing.
    "ConvNet keeping its own copies of the weights": Entry(CLASSIC_NET.replace(
        "        for k, v in self.params.items():\n            self.params[k] = v.astype(dtype)\n",
        "        for k, v in self.params.items():\n            self.params[k] = v.astype(dtype)\n"
        "            setattr(self, k, self.params[k])\n").replace(
        "        W1, b1 = self.params['W1'], self.params['b1']\n",
        "        W1, b1 = self.W1, self.b1\n"), NET_CHECKS),
}
