"""The edges: where a call comes in (FC handler entry, the local FC in serve.py, the CLI) and is handed to the pass in lib.app."""
