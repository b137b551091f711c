"""homeport: a production-grade Kubernetes platform for self-hosters from one config file."""

__version__ = "0.1.0"
