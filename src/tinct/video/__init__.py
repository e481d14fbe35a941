"""Video: colorize a film frame by frame with color that holds still (see docs/video.md).

``colorize_video(colorizer, "clip.mp4", "out/clip.mp4")`` streams the frames through the image
pipeline, filters the predicted chroma over time along the motion
(:class:`~tinct.video.temporal.ChromaStabilizer`) and writes an H.264 MP4 with the input's size,
timing, rotation and audio. PyAV is imported on first use (``pip install 'tinct[video]'``).
"""

from tinct.io.video import VIDEO_EXTENSIONS, VideoReadError, is_video_path
from tinct.video.colorize import VideoReport, colorize_video
from tinct.video.temporal import ChromaStabilizer, StabilizerConfig

__all__ = [
    "VIDEO_EXTENSIONS",
    "ChromaStabilizer",
    "StabilizerConfig",
    "VideoReadError",
    "VideoReport",
    "colorize_video",
    "is_video_path",
]
