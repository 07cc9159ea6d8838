"""sidecar-killer: wait for the mesh proxy, run the app, quit the proxy, keep the exit code."""

__version__ = "0.1.0"
