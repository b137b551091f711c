"""The ACME stack of tests/certs, started once per module (see acme.py for what is real)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.apiserver import ApiServer
from ddns.emulator import CloudflareEmulator
from homeport import sealing, secretstore
from homeport.cluster.apply import apply_objects, pinned_crds
from homeport.cluster.kube import Kube, connect
from homeport.platform import secrets as psec
from homeport.versions import CERT_MANAGER_CHART_VERSION

from .acme import (
    CONTROLLER_SA,
    CertManager,
    ChallTestSrv,
    CloudflareProxy,
    Pebble,
    TestCA,
    chart_objects,
    chart_rbac,
    controller_args,
    controller_deployment,
    loopback_args,
)

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
CHART_DIR = SHARED / "charts" / f"cert-manager-{CERT_MANAGER_CHART_VERSION}"
DOMAIN = "example.com"
EMAIL = "admin@example.com"
# What the user pasted into `homeport init`: a Cloudflare-shaped 40-character token.
TOKEN = "hpTESTcf0123456789abcdefghijklmnopqrstuv"
# A record the DDNS controller owns in the same zone; DNS-01 must never touch it.
DDNS_RECORD = (DOMAIN, "A", "81.2.69.160", "managed-by: homeport")


def run_homeport(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI as a process, with its own HOMEPORT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env["HOMEPORT_HOME"] = str(home)
    for k in ("HOMEPORT_CRD_DIR", "HOMEPORT_CHART_SCHEMA_DIR", "HOMEPORT_TOOLS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class Tree:
    """The rendered GitOps tree, as homeport init + render wrote it."""

    root: Path
    home: Path
    objects: list[dict[str, Any]]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.objects if o.get("kind") == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} in the tree"
        return found[0]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def app_values(self, app: str) -> dict[str, Any]:
        return dict(self.one("Application", app)["spec"]["source"]["helm"]["valuesObject"])

    def app_namespace(self, app: str) -> str:
        return str(self.one("Application", app)["spec"]["destination"]["namespace"])

    def cloudflare_secret(self) -> dict[str, Any]:
        """The cert-manager token Secret, opened from the tree's SealedSecret with the key."""
        ps = psec.CERT_MANAGER_TOKEN
        sealed = secretstore.read_sealed(secretstore.secret_path(self.root, ps.namespace, ps.name))
        key = sealing.load_private_key(self.home / sealing.KEY_FILE)
        data = sealing.unseal(sealed, [key])
        tmpl = sealed["spec"].get("template") or {}
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": ps.name, "namespace": ps.namespace},
            "type": tmpl.get("type", "Opaque"),
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }


def render_tree(base: Path) -> Tree:
    """``homeport init`` (token from a file) then ``homeport render``, as a user would."""
    home = base / "home"
    repo = base / "repo"
    token_file = base / "cf-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    r = run_homeport(
        [
            "init",
            "--non-interactive",
            "--dir",
            str(repo),
            "--domain",
            DOMAIN,
            "--email",
            EMAIL,
            "--git-url",
            "https://github.com/example/homelab.git",
            "--cloudflare-token-file",
            str(token_file),
        ],
        home,
    )
    assert r.returncode == 0, r.stderr
    r = run_homeport(["render", "-c", str(repo / "homeport.yaml"), "--no-check"], home)
    assert r.returncode == 0, r.stderr
    root = repo / "cluster"
    objects: list[dict[str, Any]] = []
    for f in sorted(root.rglob("*.yaml")):
        objects += [d for d in yaml.safe_load_all(f.read_text()) if isinstance(d, dict)]
    return Tree(root, home, objects)


def point_issuers_at_pebble(
    issuers: list[dict[str, Any]], directory: str, ca_pem: bytes
) -> list[dict[str, Any]]:
    """THE ONLY CHANGE the test makes to rendered objects: ACME server URL and its CA bundle.

    Let's Encrypt cannot be reached from a test; pebble, Let's Encrypt's own ACME test
    server, stands in for both environments. Everything else (email, account key Secret,
    solver selector, Cloudflare token reference) is applied exactly as rendered.
    """
    out = []
    for issuer in issuers:
        changed = json.loads(json.dumps(issuer))
        changed["spec"]["acme"]["server"] = directory
        changed["spec"]["acme"]["caBundle"] = base64.b64encode(ca_pem).decode()
        out.append(changed)
    return out


@dataclass
class Stack:
    """Everything a test of tests/certs needs."""

    tree: Tree
    api: ApiServer
    kube: Kube
    cf: CloudflareEmulator
    proxy: CloudflareProxy
    chall: ChallTestSrv
    pebble: Pebble
    cm: CertManager
    issuers: list[dict[str, Any]]
    certificate: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def wait(
        self, what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5
    ) -> Any:
        """Poll until ``check`` returns something truthy; fail with cert-manager's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.cm.check_alive()
            got = check()
            if got:
                return got
            time.sleep(interval)
        tail = "\n".join(self.cm.log_text().splitlines()[-40:])
        raise AssertionError(f"{what}: not within {timeout:.0f}s\ncert-manager log:\n{tail}")


def condition(obj: dict[str, Any] | None, kind: str = "Ready") -> dict[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("acme")
    tree = render_tree(base)
    started: list[Any] = []
    api = ApiServer().start()
    started.append(api)
    try:
        kube = connect(api.kubeconfig)
        apply_objects(kube, pinned_crds(["cert-manager"]))
        for ns in ("cert-manager", tree.app_namespace("traefik")):
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        kube.apply(tree.cloudflare_secret())

        cf = CloudflareEmulator(DOMAIN).start()
        started.append(cf)
        cf.tokens[TOKEN] = "edit"  # Zone:DNS:Edit + Zone:Zone:Read on the zone
        cf.add(*DDNS_RECORD[:3], comment=DDNS_RECORD[3])
        ca = TestCA()
        chall = ChallTestSrv(base)
        started.append(chall)
        cf.on_change = chall.mirror()
        proxy = CloudflareProxy(base, ca, cf)
        started.append(proxy)
        pebble = Pebble(base, ca, chall.dns)
        started.append(pebble)

        issuers = point_issuers_at_pebble(tree.all("ClusterIssuer"), pebble.directory, ca.pem)
        apply_objects(kube, issuers)
        chart = chart_objects(CHART_DIR, tree.app_values("cert-manager"), "cert-manager")
        # The controller runs as its ServiceAccount, with exactly the chart's RBAC: a client
        # certificate for system:serviceaccount:cert-manager:<sa>, which RBAC's ServiceAccount
        # subjects match by user name.
        apply_objects(kube, chart_rbac(chart))
        sa = controller_deployment(chart)["spec"]["template"]["spec"]["serviceAccountName"]
        assert sa == CONTROLLER_SA
        user_kubeconfig = api.write_user_kubeconfig(
            f"system:serviceaccount:cert-manager:{sa}",
            ("system:serviceaccounts", "system:serviceaccounts:cert-manager"),
        )
        args = loopback_args(controller_args(chart, "cert-manager"), user_kubeconfig, chall.dns)
        t0 = time.monotonic()
        cm = CertManager(base, args, proxy, ca)
        started.append(cm)
        (certificate,) = tree.all("Certificate")
        s = Stack(tree, api, kube, cf, proxy, chall, pebble, cm, issuers, certificate)
        s.timings["start"] = t0
        yield s
        kube.close()
    finally:
        for thing in reversed(started):
            thing.stop()
