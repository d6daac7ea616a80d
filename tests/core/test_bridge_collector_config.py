"""collector-config/: every file parses, names only Collector-contrib components, and reaches the bridge."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from xpander_otel.bridge.limits import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT

CONFIG_DIR = Path(__file__).resolve().parents[2] / "collector-config"
COLLECTOR_CONFIGS = ["single-collector.yaml", "two-tier-front.yaml", "fan-out.yaml"]

# Component types of the OpenTelemetry Collector contrib distribution (otelcol-contrib) that these files
# may use, written down from the components' READMEs: the current lower_snake_case names and the former
# names they still accept as deprecated aliases.
CONTRIB_COMPONENTS = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch", "groupbytrace", "resource", "attributes", "filter",
                   "tail_sampling", "k8sattributes"},
    "exporters": {"otlp_grpc", "otlp", "otlp_http", "otlphttp", "load_balancing", "loadbalancing", "debug"},
    "extensions": {"bearertokenauth", "health_check", "pprof", "zpages", "file_storage"},
}
ENV_DEFAULT = re.compile(r"\$\{env:[A-Z_]+(?::-([^}]*))?\}")


def load(name: str) -> dict:
    return yaml.safe_load((CONFIG_DIR / name).read_text())


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def with_env_defaults(config: object) -> object:
    """The config as the Collector sees it with no environment set: ${env:X:-default} -> default."""
    if isinstance(config, dict):
        return {k: with_env_defaults(v) for k, v in config.items()}
    if isinstance(config, list):
        return [with_env_defaults(v) for v in config]
    if isinstance(config, str):
        return ENV_DEFAULT.sub(lambda m: m.group(1) or "", config)
    return config


def bridge_endpoints(config: dict) -> list[str]:
    """host:port of every exporter that goes to the bridge (the xpander-named ones)."""
    out = []
    for exporter_id, settings in config["exporters"].items():
        if not exporter_id.endswith("/xpander"):
            continue
        if component_type(exporter_id) in ("load_balancing", "loadbalancing"):
            out.append(f"resolver:{settings['resolver']['dns']['port']}")
        else:
            out.append(with_env_defaults(settings["endpoint"]))
    return out


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_every_component_is_a_contrib_component_and_defined_and_used(name):
    config = load(name)
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces"}
    used = {kind: set() for kind in ("receivers", "processors", "exporters")}
    for pipeline in pipelines.values():
        for kind in used:
            used[kind].update(pipeline.get(kind, []))
    used["extensions"] = set(config["service"].get("extensions", []))
    for kind, ids in used.items():
        assert ids == set(config.get(kind, {})), f"{name}: {kind} defined but unused, or used but undefined"
        for component_id in ids:
            assert component_type(component_id) in CONTRIB_COMPONENTS[kind], f"{name}: unknown {component_id}"
    for settings in config["exporters"].values():
        auth = settings.get("auth") or settings.get("protocol", {}).get("otlp", {}).get("auth")
        if auth:
            assert auth["authenticator"] in config["extensions"]


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_apps_reach_the_collector_on_the_otlp_ports_and_it_reaches_the_bridges_grpc_port(name):
    config = load(name)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(f":{DEFAULT_GRPC_PORT}")
    assert protocols["http"]["endpoint"].endswith(f":{DEFAULT_HTTP_PORT}")
    endpoints = bridge_endpoints(config)
    assert len(endpoints) == 1
    assert endpoints[0].endswith(f":{DEFAULT_GRPC_PORT}")


def test_two_tier_routes_by_trace_id_over_otlp_grpc():
    exporter = load("two-tier-front.yaml")["exporters"]["load_balancing/xpander"]
    assert exporter["routing_key"] == "traceID"
    assert set(exporter["protocol"]) == {"otlp"}
    assert set(exporter["resolver"]) == {"dns"}
    assert "batch" not in load("two-tier-front.yaml")["processors"]


def test_fan_out_exports_the_same_pipeline_to_the_bridge_and_the_users_backend():
    config = load("fan-out.yaml")
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc/xpander", "otlp_http/backend"]
    single = load("single-collector.yaml")
    assert config["exporters"]["otlp_grpc/xpander"] == single["exporters"]["otlp_grpc/xpander"]
    assert config["processors"] == single["processors"]


def kubernetes_documents() -> dict[tuple[str, str], dict]:
    docs = {}
    for path in sorted((CONFIG_DIR / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["apiVersion"] and doc["metadata"]["name"]
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def test_kubernetes_front_tier_carries_the_two_tier_config_and_finds_the_bridges():
    docs = kubernetes_documents()
    embedded = yaml.safe_load(docs[("ConfigMap", "otel-front")]["data"]["config.yaml"])
    assert with_env_defaults(embedded) == with_env_defaults(load("two-tier-front.yaml"))
    headless = docs[("Service", "xpander-bridge-headless")]["spec"]
    assert headless["clusterIP"] == "None"
    resolver = embedded["exporters"]["load_balancing/xpander"]["resolver"]["dns"]
    assert resolver["hostname"] == "xpander-bridge-headless.xpander.svc.cluster.local"
    assert resolver["port"] in {p["port"] for p in headless["ports"]}


def test_kubernetes_bridge_listens_where_services_and_probes_look():
    docs = kubernetes_documents()
    bridge = docs[("StatefulSet", "xpander-bridge")]["spec"]
    assert bridge["serviceName"] == "xpander-bridge-headless"
    container = bridge["template"]["spec"]["containers"][0]
    command = " ".join(container["args"])
    assert f"--grpc-port {DEFAULT_GRPC_PORT}" in command and f"--http-port {DEFAULT_HTTP_PORT}" in command
    assert "--host 0.0.0.0" in command
    assert {p["containerPort"] for p in container["ports"]} == {DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": DEFAULT_HTTP_PORT}
    assert container["volumeMounts"][0]["mountPath"] in command
    secret = docs[("Secret", "xpander-bridge")]["stringData"]
    assert {"XPANDER_API_KEY", "XPANDER_BRIDGE_TOKEN"} <= set(secret)
    front = docs[("Deployment", "otel-front")]["spec"]["template"]["spec"]["containers"][0]
    assert front["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "xpander-bridge", "key": "XPANDER_BRIDGE_TOKEN"}


def test_readme_shows_how_to_run_each_config():
    readme = (CONFIG_DIR / "README.md").read_text()
    for name in COLLECTOR_CONFIGS:
        assert f"--config collector-config/{name}" in readme
