"""The full example platform in an API server, as it looks once its controllers have run.

Used by the backup/restore tests and ``bench/restore.py``: bootstrap, every object of the
rendered example tree, the platform's Secrets (as the Sealed Secrets controller would
have unsealed them) and an issued wildcard certificate with its TLS Secret.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from homeport import sealing
from homeport.cluster.apply import apply_objects, load_manifest_text, pinned_crds
from homeport.cluster.bootstrap import bootstrap
from homeport.cluster.kube import Kube, Obj
from homeport.config import load_config
from homeport.gitops import render_tree
from homeport.platform.secrets import platform_secrets

EXAMPLE = Path(__file__).parents[2] / "examples" / "homeport.yaml"


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def populate(kube: Kube, pair: sealing.KeyPair, config: Path = EXAMPLE) -> int:
    """Install the example platform; return how many objects were applied."""
    cfg = load_config(config)
    total = 0
    for step in bootstrap(kube, cfg, pair=pair).steps:
        total += step.result.total
    tree = render_tree(cfg)
    objs: list[Obj] = list(pinned_crds())
    for path, text in tree.files.items():
        if path.endswith(".yaml"):
            objs += load_manifest_text(text, path)
    total += apply_objects(kube, objs).total
    # What the Sealed Secrets controller unseals from secrets/<ns>/<name>.yaml.
    secrets = []
    for ps in platform_secrets(cfg):
        secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": ps.name, "namespace": ps.namespace},
                "type": ps.type,
                "data": {k: _b64(f"{ps.name}-{k}-value") for k in ps.keys},
            }
        )
    # An issued certificate and its TLS Secret, as cert-manager leaves them.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cert = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "wildcard", "namespace": "traefik"},
        "spec": {
            "secretName": "wildcard-tls",
            "dnsNames": [cfg.domain, f"*.{cfg.domain}"],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
        },
    }
    tls = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "wildcard-tls",
            "namespace": "traefik",
            "annotations": {"cert-manager.io/certificate-name": "wildcard"},
        },
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(pair.cert_path.read_bytes()).decode(),
            "tls.key": _b64("not-a-real-key"),
        },
    }
    total += apply_objects(kube, [*secrets, tls, cert]).total
    kube.apply_status(
        {
            **cert,
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "Ready",
                        "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    }
                ],
                "notAfter": (now + dt.timedelta(days=80)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        },
        field_manager="cert-manager-certificates-controller",
    )
    return total
