"""Drive a bioreactor node from a Python experiment script."""

__version__ = "3.0.0"
