"""gitops-edge: turn one ops Git repository into edge-targeted manifests for a 1+31+N fleet.

The public surface is the ``gitops-edge`` command line; the modules below it are
layered so the pure core (``specs``, ``render``, ``plan``) never imports the I/O
kits (``live``, ``emit``, ``source``, ``daemon``).
"""

__version__ = "0.1.0"
