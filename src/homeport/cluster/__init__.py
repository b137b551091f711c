"""Talking to a real cluster: connect, apply, bootstrap, status, backup and restore.

Everything goes through :mod:`homeport.cluster.kube` (lightkube, plain dicts, server-side
apply with field manager ``homeport``).
"""
