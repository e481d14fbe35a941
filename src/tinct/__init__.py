"""tinct: colorize black-and-white photographs with convolutional neural networks."""

__version__ = "0.1.0"
