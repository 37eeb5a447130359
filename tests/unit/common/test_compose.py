"""docker-compose.yml cannot run here (no Docker engine), so keep it honest offline: it parses,
every service in it has a settings class, every variable and port agrees with that class, and
what makes it come up holds (healthchecks, secrets, a data directory the image's non-root user
can write, the dashboard published, the population feed). deploy/k8s: tests/unit/deploy."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

from services.common.settings import DEFAULT_HOME, ServiceSettings
from tests.unit.deploy.dockerfile import image

REPO = Path(__file__).resolve().parents[3]
SERVICES = ["accounts", "certification", "enrolments", "kpi"]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _settings_class(name: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{name}.settings")
    return next(v for v in vars(module).values()
                if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings)


def test_compose_declares_infrastructure_and_every_service(compose):
    assert {"kafka", "mongo", *SERVICES} <= set(compose["services"])
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:3.9")
    assert compose["services"]["mongo"]["image"].startswith("mongo:")


@pytest.mark.parametrize("name", SERVICES)
def test_service_environment_matches_its_settings(compose, name):
    cls = _settings_class(name)
    prefix = cls.model_config["env_prefix"]
    svc = compose["services"][name]
    env = svc["environment"]
    fields = {f"{prefix}{f.upper()}" for f in cls.model_fields}
    unknown = set(env) - fields
    assert not unknown, f"{name}: variables no settings field reads: {sorted(unknown)}"
    # Values parse with the settings class itself.
    settings = cls(**{k[len(prefix):].lower(): v for k, v in env.items()})
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.mongo_uri.startswith("mongodb://mongo:27017")
    assert settings.grpc_port == cls().grpc_port, "compose uses the service's default port"
    assert svc["ports"][0] == f"{settings.grpc_port}:{settings.grpc_port}"
    if "http_port" in cls.model_fields:
        assert f"{settings.http_port}:{settings.http_port}" in svc["ports"]
        assert settings.http_port == cls().http_port, "compose uses the service's default HTTP port"
        assert settings.public_base_url.endswith(f":{settings.http_port}"), "the public URL is the published port"
    assert svc["command"][-1] == f"services.{name}.entrypoints.main"
    assert (REPO / "services" / name / "entrypoints" / "main.py").exists(), f"{name} has no entrypoint"
    assert str(settings.auth_public_key_file) == "/run/secrets/token_signing_pub"
    assert settings.grpc_tls_cert_file and settings.grpc_tls_ca_file, "gRPC over TLS, its clients trusting the CA"


def test_service_ports_are_distinct(compose):
    ports = [_settings_class(n)().grpc_port for n in SERVICES]
    ports += [s.http_port for s in (_settings_class(n)() for n in SERVICES) if "http_port" in type(s).model_fields]
    assert len(set(ports)) == len(ports)


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_healthcheck_on_its_grpc_health(compose, name):
    svc = compose["services"][name]
    port = _settings_class(name)().grpc_port
    ca_file = svc["environment"][f"LLR_{name.upper()}_GRPC_TLS_CA_FILE"]   # TLS: the CA its clients trust
    assert svc["healthcheck"]["test"] == ["CMD", "python", "-m", "services.common.healthcheck", str(port),
                                          "--cacert", ca_file]
    assert (REPO / "services" / "common" / "healthcheck.py").exists()
    assert svc["healthcheck"]["start_period"], "the KPI restores its state before it serves"


def test_infrastructure_has_healthchecks_and_services_wait_for_them(compose):
    for name in ("kafka", "mongo"):
        assert compose["services"][name]["healthcheck"]["test"]
    for name in SERVICES:
        depends = compose["services"][name]["depends_on"]
        conditions = {k: v["condition"] for k, v in depends.items()}
        # kafka-acls runs once the broker is healthy: after it, every principal has its ACLs.
        assert conditions == {"kafka-acls": "service_completed_successfully", "mongo": "service_healthy"}
    assert compose["services"]["kafka-acls"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def test_kafka_authenticates_every_client_as_its_own_principal(compose):
    """The broker runs SASL/SCRAM-SHA-512 with the StandardAuthorizer (nothing allowed without an
    ACL); its start script formats storage with every principal of the platform's table; the ACL
    set-up is that table's; each service and the feed log in as themselves."""
    from services.common.kafka_security import PRINCIPAL_NAMES
    from services.common.settings import KafkaAdminSettings
    from services.demo.settings import DemoSettings

    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    assert env["KAFKA_LISTENERS"].split(",") == ["SASL_PLAINTEXT://:9092", "CONTROLLER://:9093"]
    assert env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] == "CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    script = (REPO / "deploy" / "compose" / "kafka-start.sh").read_text()
    listed = re.search(r"for principal in ([^;]+);", script).group(1).split()
    assert sorted(listed) == sorted(PRINCIPAL_NAMES)
    assert {f"kafka_{p}" for p in PRINCIPAL_NAMES} <= set(kafka["secrets"])
    acls = compose["services"]["kafka-acls"]
    assert acls["command"] == ["python", "-m", "services.common.kafka_security"]
    admin = KafkaAdminSettings(**{k.removeprefix("LLR_KAFKA_ADMIN_").lower(): v for k, v in acls["environment"].items()})
    assert admin.kafka_principal() == "llr-admin" and admin.namespace == ""
    for name in SERVICES:
        svc = compose["services"][name]
        cls = _settings_class(name)
        prefix = cls.model_config["env_prefix"]
        settings = cls(**{k[len(prefix):].lower(): v for k, v in svc["environment"].items()})
        assert settings.kafka_principal() == name
        assert str(settings.kafka_password_file) == f"/run/secrets/kafka_{name}"
        assert f"kafka_{name}" in svc["secrets"]
    feed = compose["services"]["population-feed"]
    demo = DemoSettings(**{k.removeprefix("LLR_DEMO_").lower(): v for k, v in feed["environment"].items()})
    assert demo.kafka_principal() == "population-feed" and demo.kafka_bootstrap == "kafka:9092"
    assert str(demo.kafka_password_file) == "/run/secrets/kafka_population-feed"
    assert feed["secrets"] == ["kafka_population-feed"]


@pytest.mark.parametrize("name", SERVICES)
def test_every_secret_a_service_reads_is_defined_and_mounted(compose, name):
    svc = compose["services"][name]
    cls = _settings_class(name)
    prefix = cls.model_config["env_prefix"]
    for key, value in svc["environment"].items():
        if key.endswith("_FILE") and value.startswith("/run/secrets/"):
            secret = value.removeprefix("/run/secrets/")
            assert secret in svc["secrets"], f"{name}: {key} names a secret it does not mount"
            assert secret in compose["secrets"], f"{name}: secret {secret} is not defined"
    if name == "certification":
        assert svc["environment"][f"{prefix}ISSUER_KEY_FILE"].startswith("/run/secrets/"), \
            "a key of its own would be generated inside the container and lost with it"


def test_kpi_writes_its_state_on_a_volume_the_images_user_owns(compose):
    img = image()
    assert img.uid != 0
    cls = _settings_class("kpi")
    svc = compose["services"]["kpi"]
    data_dir = cls(data_dir=svc["environment"]["LLR_KPI_DATA_DIR"]).data_dir
    volume, target = next((v.split(":")[0], v.split(":")[1]) for v in svc["volumes"]
                          if data_dir.is_relative_to(v.split(":")[1]))
    assert volume in compose["volumes"], "a named volume starts with the image's directory and its owner"
    assert img.writable(target), f"{target} is not owned by the image's user (Dockerfile)"
    # Without the variable the default lies in the image's home, which its user owns too.
    default = cls.model_fields["data_dir"].default.relative_to(DEFAULT_HOME)
    assert img.writable(Path(img.env["LLR_INFRA_HOME"]) / default)


def test_the_dashboard_is_published(compose):
    svc = compose["services"]["kpi"]
    settings = _settings_class("kpi")(**{k.removeprefix("LLR_KPI_").lower(): v for k, v in svc["environment"].items()})
    assert settings.grpc_host == "0.0.0.0", "the dashboard listens on grpc_host"
    assert f"{settings.dashboard_port}:{settings.dashboard_port}" in svc["ports"]


def test_a_population_feed_fills_the_stack(compose):
    from services.accounts.settings import AccountsSettings
    from services.demo.settings import DemoSettings

    feed = compose["services"]["population-feed"]
    module = feed["command"][-1]
    assert feed["command"][:3] == ["python", "-m", module] and module == "services.demo.feed"
    assert (REPO / (module.replace(".", "/") + ".py")).exists()
    env = feed["environment"]
    AccountsSettings(**{k.removeprefix("LLR_ACCOUNTS_").lower(): v
                        for k, v in env.items() if k.startswith("LLR_ACCOUNTS_")})
    demo = DemoSettings(**{k.removeprefix("LLR_DEMO_").lower(): v for k, v in env.items() if k.startswith("LLR_DEMO_")})
    assert not [k for k in env if not k.startswith(("LLR_ACCOUNTS_", "LLR_DEMO_"))]
    assert demo.kafka_bootstrap == "kafka:9092"
    assert feed["depends_on"]["accounts"]["condition"] == "service_healthy"
    assert feed["restart"] in ("no", "on-failure"), "it runs once"


def _k8s_documents():
    docs = []
    for path in sorted((REPO / "deploy" / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((REPO / "deploy" / "k8s" / "kustomization.yaml").read_text())
    manifests = {p.name for p in (REPO / "deploy" / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests


@pytest.mark.parametrize("name", SERVICES)
def test_kubernetes_deployment_matches_settings(name):
    docs = _k8s_documents()
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    cls = _settings_class(name)
    prefix = cls.model_config["env_prefix"]
    env = {e["name"]: e.get("value", "from-a-secret") for e in container["env"]}   # Secret values: placeholders
    fields = {f"{prefix}{f.upper()}" for f in cls.model_fields}
    assert set(env) <= fields, f"{name}: unknown variables {sorted(set(env) - fields)}"
    settings = cls(**{k[len(prefix):].lower(): v for k, v in env.items()})
    assert container["ports"][0]["containerPort"] == settings.grpc_port == cls().grpc_port
    assert service["spec"]["ports"][0]["port"] == settings.grpc_port
    assert container["readinessProbe"]["exec"]["command"][3] == str(settings.grpc_port)
    if "http_port" in cls.model_fields:
        http = next(p for p in container["ports"] if p["name"] == "http")
        assert http["containerPort"] == settings.http_port == cls().http_port
        assert {"port": settings.http_port, "targetPort": "http", "name": "http"} in service["spec"]["ports"]
        assert settings.public_base_url.startswith("https://"), "verifiers reach the documents over HTTPS"
    assert container["command"][-1] == f"services.{name}.entrypoints.main"
    mount = container["volumeMounts"][0]["mountPath"]
    assert str(settings.auth_public_key_file).startswith(mount)


def test_kafka_topics_in_kubernetes_are_the_services_topics():
    topics = {d["metadata"]["name"] for d in _k8s_documents() if d["kind"] == "KafkaTopic"}
    expected = {_settings_class(n)().events_topic for n in ["accounts", "certification", "enrolments"]}
    assert expected | {"llr.population.v1.events"} <= topics


def test_the_certification_public_base_url_reaches_its_http_port():
    """The URL that names the issuer (did:web) is the host the Ingress routes to the service's HTTP port."""
    from urllib.parse import urlsplit

    docs = _k8s_documents()
    container = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "certification")[
        "spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    host = urlsplit(env["LLR_CERTIFICATION_PUBLIC_BASE_URL"]).hostname
    ingress = next(d for d in docs if d["kind"] == "Ingress" and d["metadata"]["name"] == "certification-public")
    rule = next(r for r in ingress["spec"]["rules"] if r["host"] == host)
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "certification", "port": {"name": "http"}}
    assert any(host in t["hosts"] for t in ingress["spec"]["tls"]), "served over HTTPS"
