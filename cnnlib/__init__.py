"""cnnlib: the helper library the CNN course notebooks call.

Submodules (import the one you need, e.g. ``from cnnlib import arith``):

- ``device``    pick cuda > mps > cpu, describe it, synchronised timing
- ``arith``     output sizes, padding, parameter counts, receptive fields, per-layer tables
- ``gradcheck`` relative error, numerical gradients, readable reports, comparison with autograd
- ``data``      digits, scikit-image photographs and faces, MNIST-1D, CIFAR-10, synthetic shapes
- ``viz``       image/filter grids, activation maps, curves, sliding-kernel animation, explorer
- ``ops``       fast conv/pool in torch (CPU or GPU), forward and backward
- ``filters``   classic hand-made filters (edges, blur) for the convolution lesson
- ``graph``     drawings of computational graphs with forward values and gradients
- ``models``    LeNet-5, AlexNet, VGG, GoogLeNet/Inception, ResNet, plain nets, ConvNetJS net
- ``train``     fit/evaluate loop with progress bars, history, checkpoints, top-k
- ``evalviz``   top-k predictions, confusion matrix, error curves, ILSVRC and cost charts
- ``norm``      init statistics, normalisation-axes picture, BN sweeps and folding
- ``activations`` activation functions, derivatives, saturation and dead-ReLU demos
"""

__version__ = "0.1.0"
