"""Tests against a real etcd + kube-apiserver (see apiserver.py)."""
