"""Workflow Compute container runtime adapter plugin."""

__version__ = "0.1.0"
