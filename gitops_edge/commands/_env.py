"""Take the webhook secret out of the environment before anything can start a child.

``GITOPS_EDGE_WEBHOOK_SECRET`` is read once, here, at import: ``gitops-edge run``
imports this module before any other part of gitops-edge, because importing GitPython
already runs ``git version``, and every child started afterwards (git, gpg) would
inherit the secret with the rest of the environment.
"""

from __future__ import annotations

import os

SECRET_ENV = "GITOPS_EDGE_WEBHOOK_SECRET"  # noqa: S105 - the variable's name, not a secret

WEBHOOK_SECRET = os.environ.pop(SECRET_ENV, "").strip().encode()
"""The secret as the process was started with it (b"" when unset)."""
