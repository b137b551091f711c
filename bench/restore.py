"""Benchmark: restore the full example platform into a fresh API server.

The API-side part of the recovery time objective: decrypt and verify the archive, then
apply every object (sealing key, CRDs, Argo CD, namespaces, secrets and certificates,
projects, Applications) into an empty kube-apiserver, and how many objects per second
that is. The seed's plan (five manual steps) quotes an RTO of about 15 minutes.

Run: ``.venv/bin/python bench/restore.py [--runs N]`` (needs scripts/build-tools.sh and
HOMEPORT_ARGOCD_MANIFEST / HOMEPORT_CRD_DIR as scripts/test.sh sets them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyrage

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from cluster import sample_platform
from cluster.apiserver import ApiServer
from homeport import sealing
from homeport.cluster import backup as bk
from homeport.cluster.kube import connect

SEED_RTO_SECONDS = 15 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="restores into fresh servers")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pair, _ = sealing.ensure_keypair(d / "home")
        ident = pyrage.x25519.Identity.generate()
        key = bk.Key(recipients=(str(ident.to_public()),))
        source = ApiServer().start()
        try:
            with connect(source.kubeconfig) as k:
                sample_platform.populate(k, pair)
                t0 = time.perf_counter()
                result = bk.backup(k, d / "platform.age", key)
                backup_s = time.perf_counter() - t0
        finally:
            source.stop()
        total = result.manifest["total"]
        print(f"backup: {total} objects, {result.size} bytes, {backup_s:.2f} s")

        durations, applied = [], 0
        for _ in range(args.runs):
            target = ApiServer().start()
            start = time.perf_counter()  # the server's own start-up is not part of the restore
            try:
                archive = bk.open_archive(d / "platform.age", bk.Key(identities=(str(ident),)))
                with connect(target.kubeconfig) as k:
                    res = bk.restore(k, archive)
                durations.append(time.perf_counter() - start)
                applied = res.total
            finally:
                target.stop()
        med = statistics.median(durations)
        print(
            f"restore: {applied} objects applied (archive {total} + Argo CD install), "
            f"runs {', '.join(f'{x:.2f}' for x in durations)} s, median {med:.2f} s, "
            f"{applied / med:.0f} objects/s"
        )
        print(
            f"seed RTO {SEED_RTO_SECONDS} s (manual steps); API-side restore median {med:.2f} s "
            f"= {100 * med / SEED_RTO_SECONDS:.2f}% of it"
        )


if __name__ == "__main__":
    main()
