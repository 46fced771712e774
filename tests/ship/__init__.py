"""What ships: the container image recipe, the kustomize base and the CI templates."""
