"""Build and deploy helpers (``make package``)."""
