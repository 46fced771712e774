"""Where the ops repo comes from: the git work tree and the commit being rendered (I/O)."""
