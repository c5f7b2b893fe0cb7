"""Frames on disk, for everyone: the one place that reads and writes arrays, images, GIFs and videos.

    from transmem.data.io import read_frames, write_strip

Reading a user's clip (`read_frames`, `read_frame_batch`; rules in transmem.data.io.frames), images and videos for
the dataset readers (`images.read_image`, `video.dataset_video_frames`), arrays (`arrays.load_array`), and writing
arrays, GIFs and PNG strips (transmem.data.io.writers). Every problem is a one-line ValueError naming the file.
"""
from transmem.data.io.arrays import LAYOUTS
from transmem.data.io.convert import resize_frames, to_grey, to_rgb
from transmem.data.io.frames import VIDEO_SUFFIXES, read_frame_batch, read_frames
from transmem.data.io.images import IMAGE_SUFFIXES, natural_key
from transmem.data.io.writers import write_gif, write_npy, write_strip

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "LAYOUTS",
    "read_frames",
    "read_frame_batch",
    "write_npy",
    "write_gif",
    "write_strip",
    "natural_key",
    "to_grey",
    "to_rgb",
    "resize_frames",
]
