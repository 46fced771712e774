"""What the daemon tells the outside world about itself: Prometheus metrics and JSON logs.

Kept apart from the pure core so planning and rendering never import a metrics client
or a log configuration; the daemon wires both in at the edge.
"""

from gitops_edge.observe.logging import configure_logging, redact
from gitops_edge.observe.metrics import Metrics

__all__ = ["Metrics", "configure_logging", "redact"]
