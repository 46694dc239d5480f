"""Helpers that serve one notebook each, in a module named after it.

- ``convolution``   notebook 2: the patches a filter fires on, the which-kernel puzzle
- ``backprop``      notebook 3: computational-graph drawings, activation functions and their
  experiments (saturation, dead ReLUs), a reference softmax loss
- ``normalization`` notebook 4: initialization statistics, covariate shift, normalization axes,
  the batch-norm sweep, the train/eval mix-up, folding, dropout maps
- ``case_studies``  notebook 5: ILSVRC, VGG budget, plain-vs-residual and cost charts
- ``capstone``      notebook 6: the student's layers carried over from notebooks 2-4, data for
  the numpy network, its torch twin and the step-by-step comparison

A notebook imports its own: ``from cnnlib.lessons import normalization as lesson``. The tools
every notebook may use live one level up, in ``cnnlib``.
"""
