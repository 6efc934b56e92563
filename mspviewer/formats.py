"""The image files the tool reads, by suffix: what ``eval`` takes from a folder, the viewer
lists and steps through, and what a bitstream's name must not end with. Kept free of heavy
imports: the command line consults it before it loads anything."""

from __future__ import annotations

#: every suffix :func:`mspviewer.imageio.load_image` reads (through Pillow and its plugins)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm",
                  ".pnm", ".gif", ".tga", ".jxl", ".heic", ".heif", ".hif", ".avif", ".jp2",
                  ".j2k", ".j2c", ".jpc", ".jpf", ".jpx")
