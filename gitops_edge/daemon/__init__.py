"""``gitops-edge run``: the daemon that keeps the fleet at the ops repo's branch head.

Triggers (poll, webhook, file events, edge nodes coming back) feed one keyed queue;
workers reconcile the queued sites with the same pure core ``apply`` uses.
"""
