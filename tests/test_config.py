"""homeport.yaml validation: every bad input of the Foundation issue, and the good ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from configs import NO_SSO, base_yaml
from homeport.config import HomeportConfig, load_config, normalize_domain, parse_config
from homeport.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BASE = base_yaml(git_url="https://github.com/me/lab.git")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "homeport.yaml")
    return exc.value.lines()


def test_minimal_config_gets_safe_defaults() -> None:
    cfg = parse_config(BASE)
    assert cfg.acme.environment == "staging"
    assert cfg.zone == "example.com"
    assert cfg.cloudflare.records == ["@", "*"]
    assert (
        cfg.cloudflare.proxied,
        cfg.cloudflare.ttl,
        cfg.cloudflare.ipv4,
        cfg.cloudflare.ipv6,
    ) == (
        False,
        1,
        True,
        False,
    )
    assert cfg.cloudflare.interval == "5m"
    assert (cfg.git.revision, cfg.git.path) == ("main", "cluster")
    assert cfg.kubernetes.version == "1.36"
    assert cfg.ha is False
    assert cfg.components.demo_apps.enabled is True
    assert cfg.apps == []


def test_domain_is_normalised() -> None:
    cfg = parse_config(BASE.replace("example.com", "Example.COM.", 1))
    assert cfg.domain == "example.com"
    assert normalize_domain("bücher.example") == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("domain", "fragment"),
    [
        ("exa mple.com", "not a valid domain"),
        ("-bad.com", "label"),
        ("example", "not fully qualified"),
        ("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com", "maximum is 253"),
        ("bad_label.com", "label"),
        ("example.123", "numeric"),
    ],
)
def test_bad_domains_name_line_and_field(domain: str, fragment: str) -> None:
    lines = problems(BASE.replace("example.com", domain, 1))
    assert lines[0].startswith("homeport.yaml:1: domain: ")
    assert fragment in lines[0]


def test_bad_email() -> None:
    assert problems(BASE.replace("admin@example.com", "not-an-email"))[0].startswith(
        "homeport.yaml:2: email: "
    )


def test_unknown_key_is_rejected_with_its_line() -> None:
    lines = problems(BASE + "colour: blue\n")
    assert lines == ["homeport.yaml:5: colour: unknown key"]


def test_unknown_nested_key() -> None:
    lines = problems(BASE.replace("  url:", "  branch: main\n  url:"))
    assert lines == ["homeport.yaml:4: git.branch: unknown key"]


def test_invalid_yaml() -> None:
    lines = problems("domain: [unclosed\n")
    assert lines[0].startswith("homeport.yaml:") and "invalid YAML" in lines[0]


def test_duplicate_key_is_an_error_not_silently_merged() -> None:
    lines = problems(BASE + "domain: other.com\n")
    assert (
        lines == ['homeport.yaml:5: invalid YAML: duplicate key "domain"']
        or "duplicate key" in lines[0]
    )


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_empty_config(text: str) -> None:
    assert "empty" in problems(text)[0]


def test_not_a_mapping() -> None:
    assert "mapping" in problems("- a\n- b\n")[0]


def app_config(*apps: str) -> str:
    return BASE + "apps:\n" + "".join(apps)


def app(name: str, image: str = "ghost:5.1", port: int = 2368, extra: str = "") -> str:
    return f"  - name: {name}\n    image: {image}\n    port: {port}\n{extra}"


def test_issue_example_error_message() -> None:
    text = app_config(app("a"), app("b", image="nginx:latest"))
    assert problems(text) == [
        'homeport.yaml:10: apps[1].image: tag "latest" is not allowed; pin a version'
    ]


def test_image_without_tag() -> None:
    assert "no tag" in problems(app_config(app("a", image="nginx")))[0]


def test_image_with_registry_port_but_no_tag() -> None:
    assert "no tag" in problems(app_config(app("a", image="registry.local:5000/team/app")))[0]


def test_image_digest_is_pinned() -> None:
    cfg = parse_config(app_config(app("a", image="nginx@sha256:" + "a" * 64)))
    assert cfg.apps[0].image.endswith("a" * 64)


def test_duplicate_app_names() -> None:
    lines = problems(app_config(app("a"), app("a")))
    assert lines[0].startswith("homeport.yaml:9: apps[1].name: duplicate app name")


def test_duplicate_hosts() -> None:
    text = app_config(app("a"), app("b", extra="    host: a.example.com\n"))
    assert any("apps[1].host: duplicate host" in ln for ln in problems(text))


def test_host_outside_domain() -> None:
    text = app_config(app("a", extra="    host: a.other.org\n"))
    assert "outside the domain" in problems(text)[0]


def test_host_of_the_platform_is_refused() -> None:
    text = app_config(app("a", extra="    host: auth.example.com\n"))
    assert "used by the platform" in problems(text)[0]


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_bad_ports(port: int) -> None:
    line = problems(app_config(app("a", port=port)))[0]
    assert line.startswith("homeport.yaml:8: apps[0].port: "), line


def test_sso_app_with_sso_disabled_names_the_app() -> None:
    text = app_config(app("wiki", extra="    auth: sso\n")) + NO_SSO
    lines = problems(text)
    assert any('app "wiki" asks for sso' in ln for ln in lines)


def test_auth_defaults_follow_sso_availability() -> None:
    cfg = parse_config(app_config(app("a")))
    assert cfg.auth_of(cfg.apps[0]) == "sso"
    off = parse_config(app_config(app("a")) + NO_SSO)
    assert off.auth_of(off.apps[0]) == "public"


def test_platform_namespace_cannot_be_an_app_name() -> None:
    assert "platform namespace" in problems(app_config(app("traefik")))[0]


def test_storage_with_several_replicas_is_refused() -> None:
    text = app_config(app("a", extra="    replicas: 2\n    storage:\n      size: 1Gi\n"))
    assert "ReadWriteOnce" in problems(text)[0]


def test_zone_must_contain_domain() -> None:
    text = BASE + "cloudflare:\n  zone: other.org\n"
    assert problems(text)[0].startswith("homeport.yaml:6: cloudflare.zone: ")


def test_all_problems_are_reported_in_line_order() -> None:
    text = app_config(app("a", image="x:latest", port=0))
    lines = problems(text)
    assert [ln.split(":")[1] for ln in lines] == sorted((ln.split(":")[1] for ln in lines), key=int)
    assert len(lines) == 2


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "homeport.yaml")
    assert "no such file" in str(exc.value)


@pytest.mark.parametrize(
    "example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name
)
def test_examples_are_valid(example: Path) -> None:
    assert isinstance(load_config(example), HomeportConfig)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_cli_bad_config_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "homeport.yaml"
    cfg.write_text(app_config(app("a", image="nginx:latest")))
    res = run_cli("render", "-c", str(cfg), "--out", str(tmp_path / "out"), "--no-check")
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        == f'error: {cfg}:7: apps[0].image: tag "latest" is not allowed; pin a version'
    )
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_cli_debug_shows_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "homeport.yaml"
    cfg.write_text("domain: [\n")
    res = run_cli("--debug", "render", "-c", str(cfg), "--no-check")
    assert res.returncode == 2
    assert "Traceback" in res.stderr


# -- found by adversarial review: values the config accepted but the platform rejects ------
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # YAML `true` is not a port (pydantic's lax mode would read it as 1).
        (
            "apps:\n  - name: web\n    image: a/b:1\n    port: true\n",
            "homeport.yaml:8: apps[0].port",
        ),
        # The DDNS controller (and Cloudflare) only take 1 or 30..86400.
        ("cloudflare:\n  ttl: 5\n", "homeport.yaml:6: cloudflare.ttl: 5 is not 1"),
        # Only the versions homeport has schemas and pins for.
        (
            "kubernetes:\n  version: '1.20'\n",
            "homeport.yaml:6: kubernetes.version: Kubernetes 1.20",
        ),
        (
            "components:\n  traefik:\n    load_balancer_ip: lb.local\n",
            "homeport.yaml:7: components.traefik.load_balancer_ip",
        ),
        (
            "components:\n  ddns:\n    ip_providers: [bogus]\n",
            "homeport.yaml:7: components.ddns.ip_providers: unknown IP provider",
        ),
        (
            "components:\n  ddns:\n    ip_providers: []\n",
            "homeport.yaml:7: components.ddns.ip_providers",
        ),
        (
            "components:\n  ddns:\n    healthchecks_url: hc-ping.com/x\n",
            'homeport.yaml:7: components.ddns.healthchecks_url: "hc-ping.com/x" is not an http',
        ),
        (
            "components:\n  monitoring:\n    alerts:\n      ntfy_url: ntfy.sh/x\n",
            "homeport.yaml:8: components.monitoring.alerts.ntfy_url",
        ),
        (
            "components:\n  monitoring:\n    alerts:\n      email: a@example.com\n",
            "homeport.yaml:7: components.monitoring.alerts: email alerts need smtp_host",
        ),
        (
            "components:\n  monitoring:\n    alerts:\n      email: a@example.com\n"
            "      smtp_host: smtp.example.com\n",
            'homeport.yaml:9: components.monitoring.alerts.smtp_host: "smtp.example.com" must',
        ),
        (
            "backup:\n  s3:\n    endpoint: s3.example.com\n    bucket: b\n",
            "homeport.yaml:7: backup.s3.endpoint",
        ),
        (
            "backup:\n  s3:\n    endpoint: https://s3.example.com\n    bucket: b\n"
            "    schedule: every night\n",
            "homeport.yaml:9: backup.s3.schedule",
        ),
        (
            "apps:\n  - name: web\n    image: a/b:1\n    port: 80\n    env:\n      PORT: 8080\n",
            "homeport.yaml:10: apps[0].env.PORT: must be a string; put the value in quotes",
        ),
        ("git:\n  - url: x\n", "homeport.yaml:3: git: must be a mapping"),
    ],
)
def test_values_the_platform_would_reject_are_config_errors(extra: str, expected: str) -> None:
    text = BASE + extra if not extra.startswith("git:") else BASE.split("git:")[0] + extra
    lines = problems(text)
    assert any(line.startswith(expected) for line in lines), lines


AGE = "age1" + "q" * 58


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # A batch/v1 CronJob takes five fields: the API server refuses seconds.
        (
            f"backup:\n  platform:\n    recipients: [{AGE}]\n    schedule: '0 0 2 * * *'\n",
            'homeport.yaml:8: backup.platform.schedule: "0 0 2 * * *" is not a cron schedule '
            'such as "0 3 * * *": has 6 fields; a Kubernetes CronJob takes five',
        ),
        (
            f"backup:\n  platform:\n    recipients: [{AGE}]\n    schedule: '61 2 * * *'\n",
            'homeport.yaml:8: backup.platform.schedule: "61 2 * * *" is not a cron schedule '
            'such as "0 3 * * *": minute "61" is outside 0-59',
        ),
        (
            f"backup:\n  platform:\n    recipients: [{AGE}]\n    schedule: '@every'\n",
            "homeport.yaml:8: backup.platform.schedule",
        ),
        # CNPG takes six fields, seconds first; five are converted, seven are nothing.
        (
            "backup:\n  s3:\n    endpoint: https://s3.example.com\n    bucket: b\n"
            "    schedule: '0 0 3 * * * *'\n",
            "homeport.yaml:9: backup.s3.schedule",
        ),
        (
            "backup:\n  s3:\n    endpoint: https://s3.example.com\n    bucket: b\n"
            "    schedule: '0 0 3 * * 7'\n",
            'homeport.yaml:9: backup.s3.schedule: "0 0 3 * * 7" is not a cron schedule such as '
            '"0 3 * * *": day of week "7" is outside 0-6',
        ),
    ],
)
def test_cron_schedules_take_the_form_their_consumer_parses(extra: str, expected: str) -> None:
    lines = problems(BASE + extra)
    assert any(line.startswith(expected) for line in lines), lines


def test_cron_schedules_accepted_where_the_consumer_takes_them() -> None:
    """Negative control: the forms each consumer does take still pass."""
    for schedule in ("0 2 * * *", "@daily", "@every 6h", "*/15 1-5 * jan,JUL MON-FRI", "0 2 ? * 0"):
        cfg = parse_config(
            BASE + f"backup:\n  platform:\n    recipients: [{AGE}]\n    schedule: '{schedule}'\n"
        )
        assert cfg.backup.platform is not None and cfg.backup.platform.schedule == schedule
    for schedule in ("0 3 * * *", "30 0 3 * * *", "@weekly"):
        cfg = parse_config(
            BASE + "backup:\n  s3:\n    endpoint: https://s3.example.com\n    bucket: b\n"
            f"    schedule: '{schedule}'\n"
        )
        assert cfg.backup.s3 is not None and cfg.backup.s3.schedule == schedule


STORAGE_APP = (
    "apps:\n  - name: db\n    image: a/b:1\n    port: 80\n    storage: {size: 1Gi, path: /data}\n"
)


def test_storage_with_autoscale_is_refused() -> None:
    """An HPA (min 2 by default) would run several pods on one ReadWriteOnce volume."""
    for extra in ("    autoscale: {}\n", "    replicas: 1\n    autoscale: {min_replicas: 1}\n"):
        lines = problems(BASE + STORAGE_APP + extra)
        assert any(
            line.startswith("homeport.yaml:1")
            and ': apps[0].autoscale: app "db" has storage and autoscale' in line
            for line in lines
        ), lines
    # Negative control: one fixed replica with storage is fine.
    cfg = parse_config(BASE + STORAGE_APP + "    replicas: 1\n")
    assert cfg.apps[0].storage is not None and cfg.apps[0].autoscale is None


def test_empty_sections_mean_defaults_and_numbers_are_quantities() -> None:
    cfg = parse_config(
        BASE
        + "components:\n  monitoring:\n    # lite: true\n  traefik:\napps:\n"
        + "  - name: web\n    image: a/b:1\n    port: 80\n    resources:\n"
        + "      limits: {cpu: 2, memory: 1Gi}\n      requests: {cpu: 0.25}\n"
    )
    assert cfg.components.monitoring.enabled and not cfg.components.monitoring.lite
    assert cfg.apps[0].resources.limits.cpu == "2"
    assert cfg.apps[0].resources.requests.cpu == "0.25"
    assert parse_config(BASE + "apps:\n  # - name: later\n").apps == []
    ok = parse_config(
        BASE + "cloudflare:\n  ttl: 60\ncomponents:\n  ddns:\n    ip_providers:\n"
        "      - cloudflare.trace:https://api.cloudflare.com/cdn-cgi/trace\n"
        "      - static:2606:4700:4700::1111\nbackup:\n  s3:\n    endpoint: http://minio:9000\n"
        "    bucket: b\n    schedule: '@daily'\n"
    )
    assert ok.cloudflare.ttl == 60
    # A documentation or private address: the DDNS controller would refuse it at run time.
    for ip in ("2001:db8::1", "192.168.1.10", "203.0.113.10"):
        with pytest.raises(ConfigError, match="not a global unicast address"):
            parse_config(BASE + f"components:\n  ddns:\n    ip_providers: ['static:{ip}']\n")


def test_subdomain_of_the_zone_defaults_to_its_own_records() -> None:
    # "@" and "*" of zone example.com would take over the zone's apex and wildcard.
    sub = BASE.replace("domain: example.com", "domain: lab.example.com")
    cfg = parse_config(sub + "cloudflare:\n  zone: example.com\n")
    assert cfg.cloudflare.records == ["lab", "*.lab"]
    explicit = parse_config(sub + "cloudflare:\n  zone: example.com\n  records: ['@']\n")
    assert explicit.cloudflare.records == ["@"]
    assert parse_config(BASE + "cloudflare:\n  zone: example.com\n").cloudflare.records == [
        "@",
        "*",
    ]


# -- mirror: (air-gapped clusters, private registries) -------------------------------------
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "mirror:\n  charts: ftp://x\n",
            'homeport.yaml:6: mirror.charts: "ftp://x" is not a Helm repository URL '
            "(https://, http://, oci://)",
        ),
        ("mirror:\n  charts: charts.example\n", "homeport.yaml:6: mirror.charts: "),
        ("mirror:\n  charts: https://\n", "homeport.yaml:6: mirror.charts: "),
        ("mirror:\n  charts: https://h/x?a=1\n", "homeport.yaml:6: mirror.charts: "),
        (
            "mirror:\n  charts: oci://10.1.2.3:5000/charts\n",
            'homeport.yaml:6: mirror.charts: "oci://10.1.2.3:5000/charts": Argo CD cannot read '
            "an OCI registry at an IPv6 address or at an IP address with a port",
        ),
        (
            "mirror:\n  argocd: ftp://h/argo-cd.git\n",
            'homeport.yaml:6: mirror.argocd: "ftp://h/argo-cd.git" is not a Git URL',
        ),
        (
            "mirror:\n  charts: http://127.0.0.1:8080\n  credentials: [argocd]\n",
            'homeport.yaml:7: mirror.credentials[0]: "argocd" names no mirror: mirror.argocd '
            "is not set",
        ),
        (
            "mirror:\n  credentials: true\n",
            "homeport.yaml:6: mirror.credentials: true, but neither mirror.charts nor "
            "mirror.argocd is set",
        ),
        (
            "mirror:\n  charts: http://127.0.0.1:8080\n  credentials: charts\n",
            "homeport.yaml:7: mirror.credentials: must be true, false or a list of mirrors",
        ),
        (
            "mirror:\n  charts: http://127.0.0.1:8080\n  credentials: [chart]\n",
            'homeport.yaml:7: mirror.credentials: "chart" is not a mirror; use charts or argocd',
        ),
        (
            "mirror:\n  argocd: git://127.0.0.1/argo-cd.git\n  credentials: true\n",
            'homeport.yaml:7: mirror.credentials: mirror.argocd "git://127.0.0.1/argo-cd.git" '
            "is a git:// URL, which has no login",
        ),
        ("mirror:\n  chart: http://x\n", "homeport.yaml:6: mirror.chart: unknown key"),
    ],
)
def test_bad_mirrors_name_the_field(extra: str, expected: str) -> None:
    lines = problems(BASE + extra)
    assert any(line.startswith(expected) for line in lines), lines


@pytest.mark.parametrize("field", ["charts", "argocd"])
def test_a_password_in_a_mirror_url_is_refused_and_never_echoed(field: str) -> None:
    url = "https://robot:tok-9f8e7d@mirror.lan/x.git"
    [line] = problems(BASE + f"mirror:\n  {field}: {url}\n")
    assert line.startswith(f"homeport.yaml:6: mirror.{field}: the URL carries a ")
    assert "tok-9f8e7d" not in line and "use mirror.credentials" in line
    # git.url too: its login belongs to bootstrap, not to the URL.
    [line] = problems(base_yaml(git_url=url))
    assert "tok-9f8e7d" not in line and "--repo-credentials" in line


def test_loopback_and_private_mirrors_and_git_daemon_urls_are_accepted() -> None:
    cfg = parse_config(
        base_yaml(git_url="git://127.0.0.1:9418/lab.git")
        + "mirror:\n  charts: http://127.0.0.1:8879/charts/\n"
        "  argocd: git://[::1]:9418/argo-cd.git\n"
    )
    assert cfg.git.url == "git://127.0.0.1:9418/lab.git"
    assert cfg.mirror.charts == "http://127.0.0.1:8879/charts"  # trailing / dropped
    assert cfg.mirror.argocd == "git://[::1]:9418/argo-cd.git"
    assert cfg.mirror.logins() == ()
    both = parse_config(
        BASE + "mirror:\n  charts: oci://registry.lan:5000/c\n"
        "  argocd: git@git.lan:m/argo-cd.git\n  credentials: true\n"
    )
    assert both.mirror.logins() == ("charts", "argocd")
    one = parse_config(
        BASE + "mirror:\n  charts: https://10.0.0.5/c\n  argocd: ssh://git@10.0.0.5/a.git\n"
        "  credentials: [argocd]\n"
    )
    assert one.mirror.logins() == ("argocd",)
    # No mirror: nothing changes.
    assert parse_config(BASE).mirror.logins() == ()
