"""Subprocess execution of container tools (podman, docker, nerdctl).

Knows how to start a tool, feed it stdin, capture bounded output, stop it on timeout or
cancellation, and remove the container it was running. Knows nothing of sandboxes or JSON-RPC.
"""
