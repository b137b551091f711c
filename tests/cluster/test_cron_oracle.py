"""CronJob schedules: `homeport check` (HP-S007) and the real API server agree.

Real: kube-apiserver validates each CronJob in a server-side dry-run (its own robfig/cron
parser); the same CronJobs are checked by the real ``check_tree``. Nothing is faked. The
corpus holds every form the config accepts and the near misses around them (six fields,
out-of-range values, backwards ranges, zero steps, time zones, unknown descriptors), plus
random five-field lines from a fixed seed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from homeport import yamlio
from homeport.check import check_tree
from homeport.schedules import cron_problem

from .apiserver import ApiServer
from .test_cel_oracle import NAMESPACE, Server

pytestmark = pytest.mark.cluster

SCHEDULES = [
    "0 3 * * *",
    "0 0 3 * * *",
    "@daily",
    "@hourly",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
    "@midnight",
    "@reboot",
    "@every 1h",
    "@every 90s",
    "@every 1.5h",
    "@every -1h",
    "@every 0",
    "@every 0s",
    "@every",
    "@every bogus",
    "@every 1d",
    "@every 1h30m",
    "61 * * * *",
    "59 23 31 12 6",
    "* 24 * * *",
    "* * 0 * *",
    "* * 32 * *",
    "* * * 0 *",
    "* * * 13 *",
    "* * * * 7",
    "*/0 * * * *",
    "5-1 * * * *",
    "1-5/2 * * * *",
    "1,2,3 * * * *",
    "0 3 * JAN MON",
    "0 3 * jan-mar mon-fri",
    "0 3 ? * *",
    "0 3 * * ?",
    "TZ=UTC 0 3 * * *",
    "CRON_TZ=UTC 0 3 * * *",
    "0 3 * * * *",
    "0 3 * *",
    "",
    " ",
    "0 3 L * *",
    "0 3 * * 1#2",
    "H 3 * * *",
    "0-59 0-23 1-31 1-12 0-6",
    "*/15 * * * *",
    "0 */2 * * *",
    "60 * * * *",
    "-1 * * * *",
    "0 3 * * SUN",
    "0 3 * * sunday",
    "0  3 * * *",
    "0 3 * * * ",
]


def random_schedules(n: int) -> list[str]:
    rng = random.Random("cron")
    parts = [
        "*",
        "?",
        "0",
        "5",
        "59",
        "60",
        "7",
        "12",
        "13",
        "31",
        "32",
        "1-5",
        "5-1",
        "*/3",
        "*/0",
        "1,2",
        "mon",
        "jan",
        "2/5",
        "0-6",
    ]
    return [" ".join(rng.choice(parts) for _ in range(rng.choice((5, 5, 5, 6)))) for _ in range(n)]


def cronjob(i: int, schedule: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": f"cron-{i:04d}", "namespace": NAMESPACE},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "containers": [{"name": "c", "image": "busybox:1.37.0"}],
                        }
                    }
                }
            },
        },
    }


def test_check_and_the_api_server_agree_on_cronjob_schedules(
    apiserver: ApiServer, tmp_path: Path
) -> None:
    server = Server(apiserver)
    server.request("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    schedules = list(dict.fromkeys(SCHEDULES + random_schedules(150)))
    tree = tmp_path / "tree"
    (tree / "jobs").mkdir(parents=True)
    for i, s in enumerate(schedules):
        (tree / "jobs" / f"cron-{i:04d}.yaml").write_text(yamlio.dump(cronjob(i, s)))
    report = check_tree(tree)
    flagged = {Path(f.file).stem for f in report.findings if f.rule_id == "HP-S007"}
    disagreements = []
    accepted = 0
    for i, s in enumerate(schedules):
        code, answer = server.request(
            "POST",
            f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs?dryRun=All&fieldValidation=Strict",
            cronjob(i, s),
        )
        assert code in (201, 422), (code, answer)
        ok = code == 201
        accepted += ok
        ours = f"cron-{i:04d}" not in flagged
        if ok != ours or ours != (cron_problem(s) is None):
            disagreements.append(f"{s!r}: server {'accepts' if ok else answer.get('message')}")
    print(f"\ncron oracle: {len(schedules)} schedules, {accepted} accepted by the server")
    assert not disagreements, f"{len(disagreements)} disagreements:\n" + "\n".join(disagreements)
    assert 0 < accepted < len(schedules)
