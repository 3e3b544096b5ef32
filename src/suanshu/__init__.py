"""Suanshu (算数): an exchange for data products and compute."""
__version__ = "0.1.0"
