"""cnnlib: the helper library the CNN course notebooks call.

Tool modules (import the one you need, e.g. ``from cnnlib import arith``):

- ``device``    pick cuda > mps > cpu, choose torch's CPU threads, describe it, honest timing
- ``arith``     output sizes, padding, parameter counts, receptive fields, per-layer tables
- ``gradcheck`` relative error, numerical gradients, readable reports, comparison with autograd
- ``data``      digits, scikit-image photographs and faces, MNIST-1D, CIFAR-10, synthetic shapes
- ``ops``       fast conv/pool in torch (CPU or GPU), forward and backward
- ``filters``   classic hand-made filters (edges, blur) and applying one to a grey image
- ``models``    LeNet-5, AlexNet, VGG, GoogLeNet/Inception, ResNet, plain nets, ConvNetJS net
- ``train``     fit/evaluate loop with progress bars, history, checkpoints, top-k, augmentation
- ``layers``    reference numpy layers (conv, pool, affine, ReLU, spatial BN), forward/backward
- ``solver``    the classic Solver: trains a numpy model with an update rule, curves, summary
- ``numpy_autograd`` a numpy (forward, backward) pair as a torch autograd op, and its gradcheck
- ``viz``       image/filter grids, activation maps, predictions, curves, conv geometry, explorer
- ``workspace`` the working copy of the notebooks that ``make lab`` opens

``cnnlib.lessons`` holds the helpers of one notebook each, named after it (``backprop``,
``normalization``, ...).

Conventions: arrays are NCHW (``x: (N, C, H, W)`` float32, labels ``(N,)`` int64); every
plotting function creates a new ``matplotlib.figure.Figure`` without pyplot and returns it,
shown once by the notebook that displays it (single-panel drawings also accept ``ax=``); integer
arguments are checked by ``cnnlib._validate.check_int`` with messages that name the argument.
"""

__version__ = "0.1.0"
