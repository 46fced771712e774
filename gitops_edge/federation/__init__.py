"""Federation with Karmada: province clusters built by eggo, registered, labelled, federated.

Pure parts (settings resolution, ``federation/`` loading and review-time checks, policy
defaults, cluster labels, the registration Job) sit beside the one I/O module
(:mod:`gitops_edge.federation.karmada`) that talks to karmada-apiserver through the
same :class:`~gitops_edge.live.client.KubeClient` the daemon uses for the centre.
"""
