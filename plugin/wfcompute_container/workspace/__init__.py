"""The workspace is hostile ground: safe path resolution, artifact hashing and build digests.

Every path a workload could have planted is resolved one component at a time relative to an
open directory descriptor, never following a symbolic link, so a link swapped in after a check
cannot redirect a read outside the workspace.
"""
