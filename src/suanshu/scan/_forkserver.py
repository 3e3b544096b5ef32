"""Imported by the scan workers' forkserver (``pool.py``), for its effect: the scanner's modules,
the name dictionaries and the validators' tables are loaded there once, and every worker forks
with them in memory. Nothing here runs an Arrow kernel, so no Arrow thread pool starts before
the fork."""

from suanshu.scan import names, report, validators  # noqa: F401
from suanshu.scan.detectors import base

names.warm()
validators.warm()
base.fold("１")
