"""The plan: desired (render) against live, per object and per site, as a value.

Nothing in this package does I/O; ``apply`` and the daemon hand a Plan to a sink.
"""
