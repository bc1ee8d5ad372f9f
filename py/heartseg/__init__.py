"""heartseg engine: 3D U-Net training, inference and evaluation for cardiac MRI."""

__version__ = "0.1.0"
