"""Checks of deploy/ that need no Docker, cluster or network: every manifest parses, and what the manifests
name (console scripts, environment variables, metrics, probes, files, ports) exists in the code."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
RUNTIME_SETTINGS = ROOT / "libs/runtime/src/paylinks_runtime/settings.py"

# CONTRACT.md section 3 plus the service-specific settings the deployment sets; the Settings classes must
# declare every one (OTEL_* are read by OpenTelemetry itself).
CONTRACT_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "AUTH_JWT_SECRET",
    "WEBHOOK_SECRET",
    "PUBLIC_BASE_URL",
    "SMTP_HOST",
    "SMTP_PORT",
    "HTTP_PORT",
    "HTTP_HOST",
    "LOG_LEVEL",
    "KAFKA_TOPIC_PARTITIONS",
    "KAFKA_REPLICATION_FACTOR",
    "RECONCILIATION_BASE_URL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
}
# Optional components, off by default and never in production: a compose profile and a manifest outside the
# kustomization. Service (project) name -> its console script, and the profile and manifest that start it.
OPTIONAL_SERVICES = {"processor-sandbox": "paylinks-processor-sandbox"}
OPTIONAL_PROFILES = {"processor-sandbox": "sandbox"}
OPTIONAL_MANIFESTS = {"processor-sandbox.yaml"}
# Read by a library the services run on rather than by a Settings class.
LIBRARY_ENV: set[str] = set()
# Series that come from Prometheus itself or kube-state-metrics, not from the services.
EXTERNAL_METRICS = {"up", "kube_pod_status_ready"}

REQUIRED_FILES = [
    "Dockerfile",
    "Dockerfile.dockerignore",
    "compose.yaml",
    "otel-collector.yaml",
    "prometheus.yaml",
    "prometheus-alerts.yaml",
    "PRODUCTION.md",
    "grafana/dashboards/pipeline.json",
    "grafana/provisioning/datasources/datasources.yaml",
    "grafana/provisioning/dashboards/dashboards.yaml",
    "k8s/kustomization.yaml",
    "k8s/secret.example.yaml",
]


# --- loading -----------------------------------------------------------------------------------------------


def deploy_manifests() -> list[Path]:
    local = DEPLOY / "local"
    found = [p for ext in ("yaml", "yml", "json") for p in DEPLOY.rglob(f"*.{ext}")]
    return sorted(p for p in found if local not in p.parents)


@cache
def documents(path: Path) -> tuple[Any, ...]:
    text = path.read_text()
    if path.suffix == ".json":
        return (json.loads(text),)
    return tuple(doc for doc in yaml.safe_load_all(text) if doc is not None)


def document(path: Path) -> Any:
    (only,) = documents(path)
    return only


def compose_services(*, optional: bool = False) -> dict[str, dict[str, Any]]:
    """The compose services built from deploy/Dockerfile: the four paylinks services that `up` starts, or
    (`optional`) the ones that only a profile starts."""
    services = document(DEPLOY / "compose.yaml")["services"]
    return {n: s for n, s in services.items() if "build" in s and ("profiles" in s) == optional}


def k8s_objects(kind: str, *, optional: bool = False) -> list[dict[str, Any]]:
    """The objects of the default deployment (`optional`: also those of the optional manifests)."""
    paths = [p for p in sorted(K8S.glob("*.yaml")) if optional or p.name not in OPTIONAL_MANIFESTS]
    return [doc for path in paths for doc in documents(path) if doc.get("kind") == kind]


def containers(*, optional: bool = True) -> list[dict[str, Any]]:
    deployments = k8s_objects("Deployment", optional=optional)
    return [c for d in deployments for c in d["spec"]["template"]["spec"]["containers"]]


def configmap() -> dict[str, str]:
    (config,) = k8s_objects("ConfigMap")
    return config["data"]


def compose_env(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: str(value) for name, value in env.items()}


# --- what the code declares --------------------------------------------------------------------------------


@cache
def service_projects() -> dict[Path, dict[str, Any]]:
    pyprojects = sorted(ROOT.glob("services/*/pyproject.toml"))
    return {p: tomllib.loads(p.read_text())["project"] for p in pyprojects}


@cache
def console_scripts() -> dict[str, Path]:
    """Every console script of the services (tools too) -> the config.py of its package."""
    scripts = {}
    for pyproject, project in service_projects().items():
        for script, target in project.get("scripts", {}).items():
            package = target.split(":")[0].split(".")[0]
            scripts[script] = pyproject.parent / "src" / package / "config.py"
    return scripts


def service_names() -> list[str]:
    """The services: each is a project with a console script of its own name (optional ones apart)."""
    names = (project["name"] for project in service_projects().values())
    return sorted(name for name in names if name not in OPTIONAL_SERVICES)


def settings_fields(path: Path) -> set[str]:
    """The environment names of the fields declared by the classes in a settings module."""
    tree = ast.parse(path.read_text())
    fields = {
        node.target.id
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for node in cls.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    return {name.upper() for name in fields if name != "model_config"}


def env_read_by(script: str) -> set[str]:
    return settings_fields(RUNTIME_SETTINGS) | settings_fields(console_scripts()[script])


def env_read_by_any_service() -> set[str]:
    return set().union(*(env_read_by(script) for script in console_scripts()))


def unknown_env(names: set[str], known: set[str]) -> set[str]:
    return {n for n in names if n not in known and n not in LIBRARY_ENV and not n.startswith("OTEL_")}


def module_constant(path: Path, name: str) -> Any:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {path}")


_METRIC_DECLARATION = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*[\"']([a-zA-Z_:][\w:]*)[\"']")


def series_of(kind: str, name: str) -> set[str]:
    """The series names prometheus_client exposes for one metric."""
    if kind == "Gauge":
        return {name}
    if kind == "Counter":
        base = name.removesuffix("_total")
        return {f"{base}_total", f"{base}_created"}
    suffixes = ("_bucket", "_sum", "_count", "_created") if kind == "Histogram" else ("", "_sum", "_count")
    return {name + suffix for suffix in suffixes}


@cache
def exposed_metrics() -> frozenset[str]:
    sources = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    declared = [m for path in sources for m in _METRIC_DECLARATION.findall(path.read_text())]
    return frozenset(series for kind, name in declared for series in series_of(kind, name))


_PROMQL_NOISE = [
    re.compile(r"\{[^}]*\}"),  # label matchers
    re.compile(r'"[^"]*"'),  # strings
    re.compile(r"\[[^\]]*\]"),  # range and subquery windows
    re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"),  # label lists
]
_PROMQL_IDENTIFIER = re.compile(r"(?<![\w$.])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()")  # not a function call
_PROMQL_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    for noise in _PROMQL_NOISE:
        expr = noise.sub(" ", expr)
    return {name for name in _PROMQL_IDENTIFIER.findall(expr) if name.lower() not in _PROMQL_KEYWORDS}


def dashboard_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for panel in panels for p in (panel, *dashboard_panels(panel.get("panels", [])))]


def dashboard() -> dict[str, Any]:
    return document(DEPLOY / "grafana/dashboards/pipeline.json")


def all_rules() -> list[dict[str, Any]]:
    groups = document(DEPLOY / "prometheus-alerts.yaml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in all_rules() if "alert" in rule]


def recorded_series() -> set[str]:
    """What the recording rules define (the SLO ratios): alerts may read these too."""
    return {rule["record"] for rule in all_rules() if "record" in rule}


def queries() -> list[Any]:
    panels = [p for p in dashboard_panels(dashboard()["panels"]) if p["type"] != "row"]
    from_dashboard = [
        pytest.param(t["expr"], id=f"dashboard:{p['title']}:{t['refId']}")
        for p in panels
        for t in p["targets"]
    ]
    from_rules = [pytest.param(r["expr"], id=f"rule:{r.get('alert') or r['record']}") for r in all_rules()]
    return from_dashboard + from_rules


# --- files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_deploy_file_exists(name: str) -> None:
    assert (DEPLOY / name).is_file()


@pytest.mark.parametrize("path", deploy_manifests(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_manifest_parses(path: Path) -> None:
    assert documents(path), f"{path} holds no document"


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    resources = document(K8S / "kustomization.yaml")["resources"]
    assert all((K8S / r).is_file() for r in resources), resources
    unlisted = {p.name for p in K8S.glob("*.yaml")} - set(resources)
    assert unlisted == {"kustomization.yaml", "secret.example.yaml", *OPTIONAL_MANIFESTS}


def test_compose_mounts_files_that_exist() -> None:
    services = document(DEPLOY / "compose.yaml")["services"].values()
    sources = [v.split(":")[0] for s in services for v in s.get("volumes", []) if v.startswith(".")]
    assert sources
    assert [s for s in sources if not (DEPLOY / s).exists()] == []


def test_dockerfile_installs_locked_dependencies_and_runs_as_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert re.search(r"pip install [^\n]*\buv==", text)
    assert "uv sync --locked --no-default-groups" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    copied = re.findall(r"^COPY\s+(?!--)(.+)\s+\S+$", text, re.M)
    assert [src for line in copied for src in line.split() if not (ROOT / src).exists()] == []


def test_the_image_installs_no_dependency_group() -> None:
    """dev (test tools) and bench (matplotlib, eventsourcing, ...) stay out of production, whatever the
    project's default groups: the image's `uv sync` names none and turns the defaults off."""
    syncs = re.findall(r"uv sync[^\n]*", (DEPLOY / "Dockerfile").read_text())
    assert syncs
    for sync in syncs:
        assert "--no-default-groups" in sync
        assert not re.search(r"--(only-)?group|--all-groups", sync)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "bench" not in project["tool"]["uv"]["default-groups"], "make bench installs its group itself"


def test_docker_context_leaves_out_local_state() -> None:
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {"**/.venv", ".local", ".git"} <= set(ignored)


# --- services, commands and environment --------------------------------------------------------------------


def test_services_are_console_scripts() -> None:
    assert len(service_names()) == 4
    assert set(service_names()) <= set(console_scripts())


def test_compose_runs_each_service_console_script_once() -> None:
    commands = {name: spec["command"][0] for name, spec in compose_services().items()}
    assert sorted(commands.values()) == service_names()
    assert all(name == command for name, command in commands.items())


def test_k8s_deploys_each_service_console_script_once() -> None:
    assert sorted(c["command"][0] for c in containers(optional=False)) == service_names()
    assert sorted(d["metadata"]["name"] for d in k8s_objects("Deployment")) == service_names()


def test_optional_services_start_only_on_request_and_never_by_default() -> None:
    compose = compose_services(optional=True)
    assert {name: spec["profiles"] for name, spec in compose.items()} == {
        name: [profile] for name, profile in OPTIONAL_PROFILES.items()
    }
    assert {name: spec["command"][0] for name, spec in compose.items()} == OPTIONAL_SERVICES
    deployments = [d for d in k8s_objects("Deployment", optional=True) if d not in k8s_objects("Deployment")]
    assert {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["command"][0]
        for d in deployments
    } == (OPTIONAL_SERVICES)
    assert set(OPTIONAL_SERVICES.values()) <= set(console_scripts())
    production = (DEPLOY / "PRODUCTION.md").read_text()
    assert all(manifest in production for manifest in OPTIONAL_MANIFESTS)


@pytest.mark.parametrize("service", sorted({**compose_services(), **compose_services(optional=True)}))
def test_compose_env_is_read_by_the_service(service: str) -> None:
    spec = {**compose_services(), **compose_services(optional=True)}[service]
    assert unknown_env(set(compose_env(spec)), env_read_by(spec["command"][0])) == set()


def test_k8s_configmap_env_is_read_by_some_service() -> None:
    assert unknown_env(set(configmap()), env_read_by_any_service()) == set()


@pytest.mark.parametrize("container", containers(), ids=lambda c: c["name"])
def test_k8s_container_env_is_read_by_the_service(container: dict[str, Any]) -> None:
    names = {e["name"] for e in container.get("env", [])}
    assert unknown_env(names, env_read_by(container["command"][0])) == set()


def test_contract_env_is_declared_by_the_settings() -> None:
    assert unknown_env(CONTRACT_ENV, env_read_by_any_service()) == set()


def test_an_unknown_env_var_is_caught() -> None:
    known = env_read_by("notifier")
    assert unknown_env({"SMTP_HOST", "OTEL_SERVICE_NAME", "WEBHOOK_SECRET", "KAFKA_BROKERS"}, known) == {
        "WEBHOOK_SECRET",
        "KAFKA_BROKERS",
    }


def test_k8s_secret_and_config_references_resolve() -> None:
    (template,) = documents(K8S / "secret.example.yaml")
    env = [e for c in containers() for e in c["env"]]
    refs = [e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e]
    assert refs
    assert all(r["name"] == template["metadata"]["name"] for r in refs)
    assert {r["key"] for r in refs} <= set(template["stringData"])
    (config,) = k8s_objects("ConfigMap")
    config_refs = {ref["configMapRef"]["name"] for c in containers() for ref in c["envFrom"]}
    assert config_refs == {config["metadata"]["name"]}


# --- probes, ports, wiring ---------------------------------------------------------------------------------


@pytest.mark.parametrize("container", containers(), ids=lambda c: c["name"])
def test_k8s_probes_use_readyz_and_healthz_on_the_http_port(container: dict[str, Any]) -> None:
    probes = {kind: container[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert all(probe["port"] in ports for probe in probes.values())
    http_port = {e["name"]: e.get("value") for e in container["env"]}["HTTP_PORT"]
    assert ports["http"] == int(http_port)


@pytest.mark.parametrize("service", sorted({**compose_services(), **compose_services(optional=True)}))
def test_compose_healthcheck_probes_readyz_on_the_service_port(service: str) -> None:
    spec = {**compose_services(), **compose_services(optional=True)}[service]
    port = compose_env(spec)["HTTP_PORT"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(spec["healthcheck"]["test"])
    assert any(str(p).endswith(f":{port}") for p in spec["ports"])


def test_compose_services_wait_for_healthy_kafka_and_postgres() -> None:
    for spec in compose_services().values():
        conditions = {name: dep["condition"] for name, dep in spec["depends_on"].items()}
        assert conditions["kafka"] == conditions["postgres"] == "service_healthy"


@pytest.mark.parametrize("container", containers(), ids=lambda c: c["name"])
def test_k8s_container_is_locked_down_and_sized(container: dict[str, Any]) -> None:
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound])


def test_k8s_pods_run_as_non_root_and_are_scraped() -> None:
    for deployment in k8s_objects("Deployment"):
        pod = deployment["spec"]["template"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)


def _selects(selector: dict[str, str], deployment: dict[str, Any]) -> bool:
    return selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_every_deployment_has_a_service_a_pdb_and_an_autoscaler() -> None:
    for deployment in k8s_objects("Deployment"):
        name = deployment["metadata"]["name"]
        services = [s for s in k8s_objects("Service") if _selects(s["spec"]["selector"], deployment)]
        budgets = [
            b
            for b in k8s_objects("PodDisruptionBudget")
            if _selects(b["spec"]["selector"]["matchLabels"], deployment)
        ]
        scalers = [
            h for h in k8s_objects("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name
        ]
        assert (len(services), len(budgets), len(scalers)) == (1, 1, 1), name


def test_consumer_services_scale_no_further_than_the_partitions() -> None:
    partitions = int(configmap()["KAFKA_TOPIC_PARTITIONS"])
    consumer_heavy = {"billing-service", "reconciliation-service", "notifier"}
    scalers = {h["spec"]["scaleTargetRef"]["name"]: h["spec"] for h in k8s_objects("HorizontalPodAutoscaler")}
    assert consumer_heavy <= set(scalers)
    assert all(scalers[name]["maxReplicas"] <= partitions for name in consumer_heavy)


def _ingress_routes() -> dict[tuple[str, str], str]:
    (ingress,) = k8s_objects("Ingress")
    return {
        (rule["host"], path["path"]): path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }


def test_ingress_routes_the_public_paths_of_the_configured_hosts() -> None:
    routes = _ingress_routes()
    assert set(routes.values()) <= {s["metadata"]["name"] for s in k8s_objects("Service")}
    pay_host = urlsplit(configmap()["PUBLIC_BASE_URL"]).netloc
    staff_host = urlsplit(configmap()["RECONCILIATION_BASE_URL"]).netloc
    webhook = module_constant(console_scripts()["link-service"], "WEBHOOK_PATH")
    for path in ("/pay", "/v1/pay", webhook):
        assert routes[(pay_host, path)] == "link-service"
    for path in ("/payments", "/deposits", "/trust-reconciliation", "/workspace.css", "/sign-out"):
        assert routes[(staff_host, path)] == "reconciliation-service"
    assert (staff_host, "/dev/sign-in") not in routes


def test_prometheus_scrapes_each_service_on_its_port_and_loads_the_alerts() -> None:
    config = document(DEPLOY / "prometheus.yaml")
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    expected = {f"{name}:{compose_env(spec)['HTTP_PORT']}" for name, spec in compose_services().items()}
    assert targets == expected
    mounts = document(DEPLOY / "compose.yaml")["services"]["prometheus"]["volumes"]
    rule_file = config["rule_files"][0]  # relative to the config's folder
    assert f"./prometheus-alerts.yaml:/etc/prometheus/{rule_file}:ro" in mounts


def test_grafana_loads_the_dashboard_from_provisioned_datasources() -> None:
    mounts = document(DEPLOY / "compose.yaml")["services"]["grafana"]["volumes"]
    providers = document(DEPLOY / "grafana/provisioning/dashboards/dashboards.yaml")["providers"]
    assert all(f"./grafana/dashboards:{p['options']['path']}:ro" in mounts for p in providers)
    datasources = document(DEPLOY / "grafana/provisioning/datasources/datasources.yaml")["datasources"]
    uids = {d["uid"] for d in datasources}
    panels = [p for p in dashboard_panels(dashboard()["panels"]) if "datasource" in p]
    assert panels
    assert {p["datasource"]["uid"] for p in panels} <= uids


def test_otel_collector_pipelines_use_defined_components() -> None:
    config = document(DEPLOY / "otel-collector.yaml")
    for pipeline in config["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(section, [])) <= set(config[section]), section
    assert set(config["service"]["extensions"]) <= set(config["extensions"])


# --- metrics, dashboard, alerts ----------------------------------------------------------------------------


@pytest.mark.parametrize("expr", queries())
def test_query_reads_only_metrics_the_services_expose(expr: str) -> None:
    names = metric_names(expr)
    assert names, f"no metric in {expr!r}"
    assert names - exposed_metrics() - EXTERNAL_METRICS - recorded_series() == set()


def test_metric_extraction_finds_metrics_and_nothing_else() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, service) "
        '(rate(a_seconds_bucket{status=~"5.."}[$__rate_interval]))) > 0'
        " and on(job) up offset 15m or sum(b_total unless b_total offset 5m)"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "up", "b_total"}


def test_exposed_metrics_follow_prometheus_client_naming() -> None:
    exposed = exposed_metrics()
    assert {"paylinks_http_request_duration_seconds_bucket", "paylinks_dlq_records_total"} <= exposed
    assert "paylinks_http_request_duration_seconds" not in exposed  # a histogram has no bare series
    assert "paylinks_made_up_total" not in exposed


def test_dashboard_covers_the_pipeline() -> None:
    panels = dashboard_panels(dashboard()["panels"])
    assert len({p["id"] for p in panels}) == len(panels)
    used = set().union(*(metric_names(t["expr"]) for p in panels for t in p.get("targets", [])))
    for metric in (
        "paylinks_consumer_lag",
        "paylinks_outbox_backlog",
        "paylinks_outbox_oldest_age_seconds",
        "paylinks_outbox_publish_latency_seconds_bucket",
        "paylinks_projection_lag_seconds",
        "paylinks_dlq_records_total",
        "paylinks_http_requests_total",
        "paylinks_http_request_duration_seconds_bucket",
    ):
        assert metric in used


def test_alert_rules_are_complete_and_uniquely_named() -> None:
    rules = alert_rules()
    assert len({r["alert"] for r in rules}) == len(rules)
    assert all(r["labels"]["severity"] and r["annotations"]["summary"] for r in rules)
    alerted = set().union(*(metric_names(r["expr"]) for r in rules))
    wanted = {"paylinks_outbox_oldest_age_seconds", "paylinks_consumer_lag", "paylinks_dlq_records_total"}
    assert wanted <= alerted
