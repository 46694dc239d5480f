"""Helpers that serve one notebook each, in a module named after it.

- ``convolution``   notebook 2: the patches a filter fires on, the which-kernel puzzle
- ``backprop``      notebook 3: computational-graph drawings, activation functions and their
  experiments (saturation, dead ReLUs), a reference softmax loss
- ``normalization`` notebook 4: initialization statistics, covariate shift, normalization axes,
  the batch-norm sweep, the train/eval mix-up, folding, dropout maps
- ``case_studies``  notebook 5: ILSVRC, VGG budget, plain-vs-residual and cost charts

A notebook imports its own: ``from cnnlib.lessons import normalization as lesson``. The tools
every notebook may use live one level up, in ``cnnlib``.
"""
