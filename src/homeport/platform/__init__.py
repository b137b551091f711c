"""One module per component of the seed platform: config in, Kubernetes objects out.

Every module exposes ``components(cfg) -> list[Component]``. :mod:`homeport.gitops` lays
the components out as an Argo CD app-of-apps tree.
"""
