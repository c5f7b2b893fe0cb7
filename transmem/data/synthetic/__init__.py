"""Generators of the offline stand-ins, one module per generator (each registers its datasets when imported):

* `flying_digits`: Moving MNIST with 1, 2 or 3 bouncing digits (mnist1, mnist2, mnist3);
* `stick_figures`: articulated figures walking, running, boxing, waving, clapping (kth-, weizmann-, h36m-synth),
  with their body and motion in `figure_pose` and their looks in `figure_domains`;
* `radar_fields`: radar reflectivity fields of stratiform rain and convective cells (radar-*-synth).
"""
