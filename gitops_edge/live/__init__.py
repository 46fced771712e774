"""Live state as CloudCore writes it into the central Kubernetes API (I/O edge + pure views).

``connect``/``client``/``errors``/``informer`` talk to the API server and explain its
failures; ``inventory``, ``delivery``, ``progress`` and ``snapshot`` turn what was read
into values the planner and ``status`` consume.
"""
