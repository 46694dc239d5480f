"""A regression corpus of real-code styles for notebook 4 (normalization and dropout).

Implementations written the way students write them: Python-2-era loops and staged graphs,
vectorised with ``keepdims=True``, their own cache layouts (tuples, dicts, transposed arrays),
``np.moveaxis`` instead of ``transpose``, ``.squeeze()`` that breaks for a batch of one, group
norm per pixel or with a loop over groups, the legacy ``np.random.seed`` dropout with ``p`` as
the keep probability, ``int(C / G)``... Some are right, some are wrong; which is which is *not*
written here: test_corpus_normalization.py decides it with its own float64 torch oracle and
checks that the grader agrees.

Each entry: the code (one submission, self-contained) and the grade ids of the checks it is
graded on.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    code: str
    checks: tuple[str, ...]


_BN_FORWARD_HEAD = '''
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param['mode']
    eps = bn_param.get('eps', 1e-5)
    momentum = bn_param.get('momentum', 0.9)
    N, D = x.shape
    running_mean = bn_param.get('running_mean', np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get('running_var', np.ones(D, dtype=x.dtype))
    out, cache = None, None
'''

_BN_FORWARD_TAIL = '''
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)
    bn_param['running_mean'] = running_mean
    bn_param['running_var'] = running_var
    return out, cache
'''

# A plain, right batch norm with a dict cache, for the entries that build on it.
_BN_DICT = "import numpy as np\n" + _BN_FORWARD_HEAD + '''
    if mode == 'train':
        sample_mean = np.mean(x, axis=0)
        sample_var = np.var(x, axis=0)
        x_norm = (x - sample_mean) / np.sqrt(sample_var + eps)
        out = gamma * x_norm + beta
        cache = {'x_norm': x_norm, 'gamma': gamma, 'std': np.sqrt(sample_var + eps)}
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == 'test':
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
''' + _BN_FORWARD_TAIL + '''

def batchnorm_backward_alt(dout, cache):
    x_norm, gamma, std = cache['x_norm'], cache['gamma'], cache['std']
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_norm, axis=0)
    dx_norm = dout * gamma
    dx = (N * dx_norm - np.sum(dx_norm, axis=0)
          - x_norm * np.sum(dx_norm * x_norm, axis=0)) / (N * std)
    return dx, dgamma, dbeta
'''

CORPUS: dict[str, Entry] = {
    # Python 2 era: a loop for the mean, the staged graph of the well-known blog post, and the
    # closed form in one line.
    "py2 loops and staged graph": Entry("import numpy as np\n" + _BN_FORWARD_HEAD + '''
    if mode == 'train':
        mu = np.zeros(D)
        for j in range(D):
            s = 0.0
            for i in range(N):
                s += x[i, j]
            mu[j] = s / N
        xmu = x - mu
        sq = xmu ** 2
        var = 1. / N * np.sum(sq, axis=0)
        sqrtvar = np.sqrt(var + eps)
        ivar = 1. / sqrtvar
        xhat = xmu * ivar
        out = gamma * xhat + beta
        cache = (xhat, gamma, xmu, ivar, sqrtvar, var, eps)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == 'test':
        xhat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * xhat + beta
''' + _BN_FORWARD_TAIL + '''

def batchnorm_backward(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N, D = dout.shape
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1. / (sqrtvar ** 2) * divar
    dvar = 0.5 * 1. / np.sqrt(var + eps) * dsqrtvar
    dsq = 1. / N * np.ones((N, D)) * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)
    dx2 = 1. / N * np.ones((N, D)) * dmu
    dx = dx1 + dx2
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N, D = dout.shape
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(xhat * dout, axis=0)
    dx = (1. / N) * gamma * ivar * (N * dout - np.sum(dout, axis=0)
                                    - xhat * np.sum(dout * xhat, axis=0))
    return dx, dgamma, dbeta
''', ("test_batchnorm_forward", "test_batchnorm_backward", "test_batchnorm_backward_alt")),

    # Vectorised with keepdims=True everywhere: the statistics and the parameter gradients
    # come out as (1, D).
    "vectorised with keepdims": Entry("import numpy as np\n" + _BN_FORWARD_HEAD + '''
    if mode == 'train':
        mu = np.mean(x, axis=0, keepdims=True)
        var = np.var(x, axis=0, keepdims=True)
        std = np.sqrt(var + eps)
        x_norm = (x - mu) / std
        out = gamma * x_norm + beta
        cache = (x_norm, gamma, std)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == 'test':
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
''' + _BN_FORWARD_TAIL + '''

def batchnorm_backward(dout, cache):
    x_norm, gamma, std = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0, keepdims=True)
    dgamma = np.sum(dout * x_norm, axis=0, keepdims=True)
    dx_norm = dout * gamma
    dvar = np.sum(dx_norm * x_norm, axis=0, keepdims=True) * (-0.5) / std ** 2
    dmu = -np.sum(dx_norm, axis=0, keepdims=True) / std
    dx = dx_norm / std + dvar * 2 * x_norm * std / N + dmu / N
    return dx, dgamma, dbeta
''', ("test_batchnorm_forward", "test_batchnorm_backward")),

    # Right in train mode; test mode with eps outside the square root.
    "test mode with eps outside the sqrt": Entry("import numpy as np\n" + _BN_FORWARD_HEAD + '''
    if mode == 'train':
        sample_mean = x.mean(axis=0)
        sample_var = x.var(axis=0)
        out = gamma * (x - sample_mean) / np.sqrt(sample_var + eps) + beta
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == 'test':
        out = gamma * (x - running_mean) / (np.sqrt(running_var) + eps) + beta
''' + _BN_FORWARD_TAIL, ("test_batchnorm_forward",)),

    # Spatial batch norm with a bare reshape: channels and positions mixed up.
    "spatial reshape without transpose": Entry(_BN_DICT + '''

def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, C, H, W), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = batchnorm_backward_alt(dout.reshape(-1, C), cache)
    return dx.reshape(N, C, H, W), dgamma, dbeta
''', ("test_spatial_batchnorm",)),

    # Spatial batch norm with np.moveaxis, reusing a dict-cache batch norm.
    "spatial with moveaxis": Entry(_BN_DICT + '''

def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    x_flat = np.moveaxis(x, 1, -1).reshape(-1, C)
    out_flat, cache = batchnorm_forward(x_flat, gamma, beta, bn_param)
    return np.moveaxis(out_flat.reshape(N, H, W, C), -1, 1), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dflat = np.moveaxis(dout, 1, -1).reshape(-1, C)
    dx_flat, dgamma, dbeta = batchnorm_backward_alt(dflat, cache)
    return np.moveaxis(dx_flat.reshape(N, H, W, C), -1, 1), dgamma, dbeta
''', ("test_spatial_batchnorm", "test_batchnorm_backward_alt")),

    # Layer norm as batch norm on the transpose, cache kept transposed.
    "layer norm on the transpose": Entry('''
import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get('eps', 1e-5)
    xT = x.T
    mu = xT.mean(axis=0)
    var = xT.var(axis=0)
    std = np.sqrt(var + eps)
    xhatT = (xT - mu) / std
    out = gamma * xhatT.T + beta
    return out, (xhatT, gamma, std)


def layernorm_backward(dout, cache):
    xhatT, gamma, std = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhatT.T).sum(axis=0)
    gT = (dout * gamma).T
    dxT = (D * gT - gT.sum(axis=0) - xhatT * (gT * xhatT).sum(axis=0)) / (D * std)
    return dxT.T, dgamma, dbeta
''', ("test_layernorm",)),

    # Layer norm whose statistics are squeezed: a batch of one loses its axis.
    "layer norm with squeeze": Entry('''
import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get('eps', 1e-5)
    mu = np.mean(x, axis=1).squeeze()
    var = np.var(x, axis=1).squeeze()
    std = np.sqrt(var[:, np.newaxis] + eps)
    xhat = (x - mu[:, np.newaxis]) / std
    return gamma * xhat + beta, (xhat, gamma, std)


def layernorm_backward(dout, cache):
    xhat, gamma, std = cache
    D = dout.shape[1]
    g = dout * gamma
    dx = (D * g - g.sum(axis=1, keepdims=True)
          - xhat * (g * xhat).sum(axis=1, keepdims=True)) / (D * std)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)
''', ("test_layernorm",)),

    # Group norm with statistics per pixel (over the group's channels only).
    "group norm per pixel": Entry('''
import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get('eps', 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, C // G, H, W)
    mu = xg.mean(axis=2, keepdims=True)
    std = np.sqrt(xg.var(axis=2, keepdims=True) + eps)
    xhat = ((xg - mu) / std).reshape(N, C, H, W)
    return gamma * xhat + beta, (xhat, std, gamma, G)


def spatial_groupnorm_backward(dout, cache):
    xhat, std, gamma, G = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    g = (dout * gamma).reshape(N, G, C // G, H, W)
    xh = xhat.reshape(N, G, C // G, H, W)
    M = C // G
    dx = (M * g - g.sum(axis=2, keepdims=True)
          - xh * (g * xh).sum(axis=2, keepdims=True)) / (M * std)
    return dx.reshape(N, C, H, W), dgamma, dbeta
''', ("test_spatial_groupnorm",)),

    # Group norm with a loop over the groups and int(C / G).
    "group norm with a loop over groups": Entry('''
import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get('eps', 1e-5)
    N, C, H, W = x.shape
    cg = int(C / G)
    xhat = np.zeros_like(x)
    stds = []
    for g in range(G):
        xs = x[:, g * cg:(g + 1) * cg, :, :]
        mu = xs.mean(axis=(1, 2, 3), keepdims=True)
        std = np.sqrt(xs.var(axis=(1, 2, 3), keepdims=True) + eps)
        xhat[:, g * cg:(g + 1) * cg] = (xs - mu) / std
        stds.append(std)
    return gamma * xhat + beta, (xhat, stds, gamma, G)


def spatial_groupnorm_backward(dout, cache):
    xhat, stds, gamma, G = cache
    N, C, H, W = dout.shape
    cg = int(C / G)
    dbeta = np.sum(dout, axis=(0, 2, 3), keepdims=True)
    dgamma = np.sum(dout * xhat, axis=(0, 2, 3), keepdims=True)
    dxhat = dout * gamma
    dx = np.zeros_like(dout)
    M = cg * H * W
    for g in range(G):
        sl = slice(g * cg, (g + 1) * cg)
        d, xh = dxhat[:, sl], xhat[:, sl]
        dx[:, sl] = (M * d - d.sum(axis=(1, 2, 3), keepdims=True)
                     - xh * (d * xh).sum(axis=(1, 2, 3), keepdims=True)) / (M * stds[g])
    return dx, dgamma, dbeta
''', ("test_spatial_groupnorm",)),

    # The classic assignment's dropout: p is the probability of KEEPING a unit.
    "dropout with p as the keep probability": Entry('''
import numpy as np


def dropout_forward(x, dropout_param):
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])
    mask = None
    out = None
    if mode == 'train':
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    elif mode == 'test':
        out = x
    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)
    return out, cache


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    mode = dropout_param['mode']
    dx = None
    if mode == 'train':
        dx = dout * mask
    elif mode == 'test':
        dx = dout
    return dx
''', ("test_dropout",)),

    # Legacy global seeding, drop probability p: any generator is fine.
    "dropout with np.random.seed": Entry('''
import numpy as np


def dropout_forward(x, dropout_param):
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])
    if mode == 'train':
        mask = (np.random.rand(*x.shape) >= p) / (1 - p)
        return x * mask, (dropout_param, mask)
    return x, (dropout_param, None)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param['mode'] == 'train':
        return dout * mask
    return dout
''', ("test_dropout",)),

    # Instance norm on rows of (N*C, H*W); folding with einsum; preprocessing with loops and
    # a keepdims mean image.
    "rows, einsum and loops": Entry('''
import numpy as np


def instancenorm_forward(x, gamma, beta, eps=1e-5):
    N, C, H, W = x.shape
    rows = x.reshape(N * C, H * W)
    mu = rows.mean(axis=1)[:, None]
    var = rows.var(axis=1)[:, None]
    xhat = ((rows - mu) / np.sqrt(var + eps)).reshape(N, C, H, W)
    return gamma.reshape(1, C, 1, 1) * xhat + beta.reshape(1, C, 1, 1), (xhat, var, gamma)


def fold_batchnorm(w, b, gamma, beta, running_mean, running_var, eps=1e-5):
    s = gamma / np.sqrt(running_var + eps)
    return np.einsum('f,fchw->fchw', s, w), s * (b - running_mean) + beta


def subtract_channel_mean(X_train, X_test):
    N, C, H, W = X_train.shape
    channel_mean = np.zeros(C)
    for c in range(C):
        channel_mean[c] = np.sum(X_train[:, c, :, :]) / float(N * H * W)
    m = channel_mean.reshape(1, C, 1, 1)
    return X_train - m, X_test - m, channel_mean


def subtract_mean_image(X_train, X_test):
    mean_image = np.mean(X_train, axis=0, keepdims=True)
    return X_train - mean_image, X_test - mean_image, mean_image
''', ("test_instancenorm_forward", "test_fold_batchnorm", "test_subtract_channel_mean",
      "test_subtract_mean_image")),

    # Folding that scales the running mean but not the conv bias.
    "fold without scaling the conv bias": Entry('''
import numpy as np


def fold_batchnorm(w, b, gamma, beta, running_mean, running_var, eps=1e-5):
    scale = gamma / np.sqrt(running_var + eps)
    w_folded = w * scale.reshape(-1, 1, 1, 1)
    b_folded = b + beta - running_mean * scale
    return w_folded, b_folded
''', ("test_fold_batchnorm",)),
}
