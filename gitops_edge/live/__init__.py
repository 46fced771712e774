"""Live state as CloudCore writes it into the central Kubernetes API (I/O edge + pure views).

``connect``/``rawapi``/``informer`` talk to the API server; ``inventory``, ``delivery`` and
``snapshot`` turn what was read into values the planner and ``status`` consume.
"""
