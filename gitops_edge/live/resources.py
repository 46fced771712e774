"""The API kinds, as the live client addresses them (the table itself is :mod:`gitops_edge.kinds`)."""

from gitops_edge.kinds import *  # noqa: F403 - this module is the I/O side's name for the table
from gitops_edge.kinds import MANAGED, Resource, managed_kinds, resource_for

__all__ = ["MANAGED", "Resource", "managed_kinds", "resource_for"]
