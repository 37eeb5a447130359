"""deploy/k8s cannot be applied here (no cluster), so check offline what makes it come up: every
referenced Secret and ConfigMap exists, every topic is replicated at least min.insync.replicas
times, the MongoDB replica set gets initiated, the non-root user can write its data directory,
every container has probes, the certification pods share one issuer key, the services that
scale have a PodDisruptionBudget and an HPA, the KPI worker stays one, the dashboard has a way in.

The checks run on the manifests as kustomize would combine them (resources, namespace, the
ConfigMap generator), and again on `kustomize build` output when a kustomize binary is found
(LLR_KUSTOMIZE, .llr/bin/kustomize or PATH; `make kustomize` installs a pinned one; without one the render tests fail).
"""
from __future__ import annotations

import base64
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from services.common.settings import DEFAULT_HOME, ServiceSettings

from .dockerfile import REPO, image

K8S = REPO / "deploy" / "k8s"
SERVICES = ["accounts", "certification", "enrolments", "kpi"]
SCALED = ["accounts", "certification", "enrolments"]   # safe as several processes; kpi is ONE worker
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def settings_class(name: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{name}.settings")
    return next(v for v in vars(module).values()
                if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings)


def keys_script():
    spec = importlib.util.spec_from_file_location("create_keys", K8S / "keys" / "create_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def from_manifests() -> list[dict]:
    """What `kustomize build deploy/k8s` makes of this kustomization (it uses nothing else)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "namespace", "resources", "configMapGenerator",
                                  "generatorOptions"}, "the emulation below no longer covers the kustomization"
    assert kustomization.get("generatorOptions", {}).get("disableNameSuffixHash") is True
    docs = [d for r in kustomization["resources"] for d in yaml.safe_load_all((K8S / r).read_text()) if d]
    for gen in kustomization.get("configMapGenerator", []):
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]},
                     "data": {Path(f).name: (K8S / f).read_text() for f in gen["files"]}})
    for d in docs:
        if d["kind"] != "Namespace":
            d["metadata"]["namespace"] = kustomization["namespace"]
    return docs


def kustomize_binary() -> str | None:
    """LLR_KUSTOMIZE (set by `make test`, which builds it) must exist; otherwise .llr's or PATH's."""
    required = os.environ.get("LLR_KUSTOMIZE")
    if required:
        if not Path(required).is_file():
            raise RuntimeError(f"LLR_KUSTOMIZE={required} is not a file (make kustomize builds it)")
        return required
    default = DEFAULT_HOME / "bin" / "kustomize"
    return str(default) if default.is_file() else shutil.which("kustomize")


def from_kustomize() -> list[dict]:
    binary = kustomize_binary()
    if binary is None:
        pytest.fail("no kustomize binary: `make kustomize` installs the pinned one (`make test` does)")
    out = subprocess.run([binary, "build", str(K8S)], capture_output=True, text=True, timeout=60, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module", params=["manifests"] + (["kustomize"] if kustomize_binary() else []))
def objects(request) -> list[dict]:
    return from_manifests() if request.param == "manifests" else from_kustomize()


def test_kustomize_renders_the_kustomization():
    """The invariants below also run on this output."""
    from_kustomize()


def find(objects, kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects, kind: str, name: str) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def service_settings(objects, name: str):
    container = pod_spec(one(objects, "Deployment", name))["containers"][0]
    cls = settings_class(name)
    prefix = cls.model_config["env_prefix"]
    # A value from a Secret (the Kafka password) stands in as a placeholder.
    return cls(**{e["name"][len(prefix):].lower(): e.get("value", "from-a-secret") for e in container["env"]})


def mount_of(workload: dict, container: dict, path: str | PurePosixPath) -> tuple[dict, dict]:
    """The volume mount holding ``path`` in ``container``, and its volume."""
    mounts = [m for m in container.get("volumeMounts", []) if PurePosixPath(path).is_relative_to(m["mountPath"])]
    assert mounts, f"{container['name']}: nothing mounted at {path}"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    volume = next(v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"])
    return mount, volume


# -- every reference resolves ---------------------------------------------------------------------
def references(workload: dict) -> list[tuple[str, str, list[str]]]:
    """(kind, name, keys) of each Secret and ConfigMap a pod template refers to."""
    refs = []
    for v in pod_spec(workload).get("volumes", []):
        if "secret" in v:
            refs.append(("Secret", v["secret"]["secretName"], [i["key"] for i in v["secret"].get("items", [])]))
        if "configMap" in v:
            refs.append(("ConfigMap", v["configMap"]["name"], [i["key"] for i in v["configMap"].get("items", [])]))
    for c in containers(workload):
        for e in c.get("env", []):
            for kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                if ref := e.get("valueFrom", {}).get(field):
                    refs.append((kind, ref["name"], [ref["key"]]))
        for e in c.get("envFrom", []):
            for kind, field in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                if ref := e.get(field):
                    refs.append((kind, ref["name"], []))
    return refs


def test_every_secret_and_config_map_referenced_is_defined_or_made_by_the_keys_job(objects):
    defined = {(o["kind"], o["metadata"]["name"]): set(o.get("data", {})) | set(o.get("stringData", {}))
               for o in objects if o["kind"] in ("Secret", "ConfigMap")}
    made = {("Secret", name): set(make()) for name, make in keys_script().SECRETS.items()
            if find(objects, "Job", "llr-keys")}
    # Strimzi's User Operator makes a Secret per SCRAM KafkaUser, named after it.
    made |= {("Secret", u["metadata"]["name"]): {"password", "sasl.jaas.config"} for u in find(objects, "KafkaUser")
             if u["spec"]["authentication"]["type"] == "scram-sha-512"}
    workloads = [o for o in objects if o["kind"] in WORKLOADS]
    assert workloads
    for w in workloads:
        for kind, name, keys in references(w):
            available = defined.get((kind, name), made.get((kind, name)))
            assert available is not None, f"{w['metadata']['name']}: {kind} {name} is defined nowhere"
            assert set(keys) <= available, f"{w['metadata']['name']}: {kind} {name} has no {set(keys) - available}"


def test_the_keys_job_runs_the_script_with_the_right_to_create_secrets(objects):
    job = one(objects, "Job", "llr-keys")
    spec = pod_spec(job)
    container = spec["containers"][0]
    mount, volume = mount_of(job, container, container["command"][-1])
    assert volume["configMap"]["name"] == "llr-keys-script"
    assert PurePosixPath(container["command"][-1]).name in one(objects, "ConfigMap", "llr-keys-script")["data"]
    account = spec["serviceAccountName"]
    one(objects, "ServiceAccount", account)
    binding = next(b for b in find(objects, "RoleBinding")
                   if any(s["kind"] == "ServiceAccount" and s["name"] == account for s in b["subjects"]))
    role = one(objects, "Role", binding["roleRef"]["name"])
    rule = next(r for r in role["rules"] if "secrets" in r["resources"])
    assert {"get", "create"} <= set(rule["verbs"])
    assert job["spec"]["backoffLimit"] > 0 and spec["restartPolicy"] in ("OnFailure", "Never")


# -- Kafka ----------------------------------------------------------------------------------------
def kafka_config(objects) -> tuple[dict, int]:
    kafka = one(objects, "Kafka", "llr")
    brokers = sum(p["spec"]["replicas"] for p in find(objects, "KafkaNodePool") if "broker" in p["spec"]["roles"])
    return kafka["spec"]["kafka"]["config"], brokers


def test_every_topic_is_replicated_at_least_min_insync_replicas_times(objects):
    config, brokers = kafka_config(objects)
    min_isr = config["min.insync.replicas"]
    assert min_isr < brokers, "acks=all must survive the loss of a broker"
    for key in ("default.replication.factor", "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor"):
        assert min_isr <= config[key] <= brokers, key
    for topic in find(objects, "KafkaTopic"):
        assert min_isr <= topic["spec"]["replicas"] <= brokers, topic["metadata"]["name"]
    # What the services create themselves (faust changelogs, anything missing) uses their setting.
    for name in SERVICES:
        factor = service_settings(objects, name).topic_replication_factor
        assert min_isr <= factor <= brokers, f"{name}: topic_replication_factor {factor}"


def test_every_topic_the_platform_writes_is_declared_with_the_partitions_the_kpi_needs(objects):
    from services.common.kafka import DLQ_SUFFIX
    from services.kpi.entrypoints.faust_app import output_topics, source_topics

    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t["spec"] for t in find(objects, "KafkaTopic")}
    kpi = service_settings(objects, "kpi")
    sources = source_topics(kpi)
    expected = set(sources) | {s + DLQ_SUFFIX for s in sources} | set(output_topics(kpi))
    expected |= {service_settings(objects, n).events_topic for n in SCALED}
    assert expected <= set(topics), f"not declared: {sorted(expected - set(topics))}"
    for topic in sources:   # the faust table is co-partitioned with its sources
        assert topics[topic]["partitions"] == kpi.topic_partitions, topic
    for name in SCALED:
        settings = service_settings(objects, name)
        assert topics[settings.events_topic]["partitions"] == settings.topic_partitions, name
    for topic in output_topics(kpi):
        assert topics[topic]["config"]["cleanup.policy"] == "compact", topic


# -- MongoDB --------------------------------------------------------------------------------------
def kafka_users(objects) -> dict[str, list]:
    """Each KafkaUser's ACLs as ``kafka_security.Acl`` rows (Strimzi spells "prefixed" "prefix")."""
    from services.common.kafka_security import Acl

    return {u["metadata"]["name"]: [Acl(u["metadata"]["name"], a["resource"]["type"], a["resource"]["name"],
                                        {"prefix": "prefixed"}.get(p := a["resource"]["patternType"], p),
                                        tuple(a["operations"]))
                                    for a in u["spec"]["authorization"]["acls"]]
            for u in find(objects, "KafkaUser")}


def test_kafka_authenticates_every_client_and_its_acls_are_the_platforms(objects):
    from services.common.kafka_security import KPI_APP_PREFIX, PRINCIPALS, acls

    kafka = one(objects, "Kafka", "llr")["spec"]["kafka"]
    assert kafka["authorization"]["type"] == "simple"
    assert all(listener["authentication"]["type"] == "scram-sha-512" for listener in kafka["listeners"])
    users = kafka_users(objects)
    assert sorted(users) == sorted(p.name for p in PRINCIPALS)
    assert sorted(map(repr, (row for rows in users.values() for row in rows))) == sorted(map(repr, acls("")))
    for name in SERVICES:   # each service logs in as its own user, with that user's password
        settings = service_settings(objects, name)
        assert settings.kafka_principal() == name
        [password] = [e for e in pod_spec(one(objects, "Deployment", name))["containers"][0]["env"]
                      if e["name"].endswith("_KAFKA_PASSWORD")]
        assert password["valueFrom"]["secretKeyRef"] == {"name": name, "key": "password"}
    assert service_settings(objects, "kpi").faust_app_id.startswith(KPI_APP_PREFIX), "faust's topics need its ACLs"


def test_only_the_feed_writes_the_population_feed_and_kpi_consumers_read_only_kpi_topics(objects):
    users = kafka_users(objects)

    def may(user: str, operation: str, topic: str) -> bool:
        return any(a.resource == "topic" and (operation in a.operations or "All" in a.operations)
                   and (topic == a.name if a.pattern == "literal" else topic.startswith(a.name))
                   for a in users[user])
    writers = {u for u in users if may(u, "Write", "llr.population.v1.events")}
    assert writers == {"population-feed"}
    for context in ("accounts", "certification", "enrolments"):
        assert {u for u in users if may(u, "Write", f"llr.{context}.v1.events")} == {context}
    person_level = [f"llr.{c}.v1.events" for c in ("population", "accounts", "certification", "enrolments")]
    assert not any(may("kpi-consumer", "Read", t) or may("kpi-consumer", "Read", t + ".dlq") for t in person_level)
    assert may("kpi-consumer", "Read", "llr.kpi.v1.cells") and may("kpi-consumer", "Read", "llr.kpi.v1.history")


def test_the_replica_set_the_services_name_is_initiated_with_every_member(objects):
    mongo = one(objects, "StatefulSet", "mongo")
    args = pod_spec(mongo)["containers"][0]["args"]
    replica_set = args[args.index("--replSet") + 1]
    service = mongo["spec"]["serviceName"]
    members = [f"mongo-{i}.{service}:27017" for i in range(mongo["spec"]["replicas"])]
    headless = one(objects, "Service", service)
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True

    init = [j for j in find(objects, "Job") if "rs.initiate" in yaml.safe_dump(j["spec"])]
    assert len(init) == 1, "one Job initiates the replica set"
    script = " ".join(init[0]["spec"]["template"]["spec"]["containers"][0]["command"])
    assert re.search(rf'_id:\s*"{replica_set}"', script)
    assert all(f'"{m}"' in script for m in members), "rs.initiate names every member"
    assert "NotYetInitialized" in script, "running it again must not fail on an initiated set"

    for name in SERVICES:
        uri = service_settings(objects, name).mongo_uri
        hosts = uri.split("//", 1)[1].split("/", 1)[0]
        assert f"replicaSet={replica_set}" in uri, name
        assert sorted(h if ":" in h else h + ":27017" for h in hosts.split(",")) == members, name


# -- pods -----------------------------------------------------------------------------------------
def test_services_run_as_the_images_user_and_can_write_their_data_directories(objects):
    img = image()
    for name in SERVICES:
        deployment = one(objects, "Deployment", name)
        security = pod_spec(deployment)["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == img.uid, name
        assert security.get("fsGroup"), f"{name}: without fsGroup a fresh volume is root's"
    kpi = one(objects, "Deployment", "kpi")
    container = pod_spec(kpi)["containers"][0]
    data_dir = service_settings(objects, "kpi").data_dir
    mount, volume = mount_of(kpi, container, data_dir)
    assert not mount.get("readOnly"), "the KPI state must be writable"
    assert "emptyDir" in volume or "persistentVolumeClaim" in volume
    if claim := volume.get("persistentVolumeClaim"):
        one(objects, "PersistentVolumeClaim", claim["claimName"])
    # Without LLR_KPI_DATA_DIR the default lies in the image's home, which its user owns.
    default = settings_class("kpi").model_fields["data_dir"].default
    assert img.writable(PurePosixPath(img.env["LLR_INFRA_HOME"]) / default.relative_to(DEFAULT_HOME))


def test_every_container_has_probes(objects):
    for workload in find(objects, "Deployment") + find(objects, "StatefulSet"):
        for c in pod_spec(workload)["containers"]:
            assert "readinessProbe" in c and "livenessProbe" in c, f"{workload['metadata']['name']}/{c['name']}"
    for name in SERVICES:
        deployment = one(objects, "Deployment", name)
        container = pod_spec(deployment)["containers"][0]
        settings = service_settings(objects, name)
        # Kubernetes' own gRPC probe speaks no TLS: the health check runs in the pod, trusting the CA.
        assert settings.grpc_tls_cert_file and settings.grpc_tls_ca_file, f"{name}: gRPC over TLS"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["exec"]["command"] == [
                "python", "-m", "services.common.healthcheck", str(settings.grpc_port),
                "--cacert", str(settings.grpc_tls_ca_file)], f"{name} {probe}"
        for path in (settings.grpc_tls_cert_file, settings.grpc_tls_key_file, settings.grpc_tls_ca_file):
            mount, volume = mount_of(deployment, container, PurePosixPath(path))
            assert volume["secret"]["secretName"] == "grpc-tls", f"{name}: {path}"
            assert volume["secret"].get("defaultMode", 0o644) & 0o040, "the non-root user reads it through its fsGroup"


def test_every_ingress_tls_certificate_is_provided(objects):
    """An Ingress's TLS Secret is defined, made by the keys Job, or issued by cert-manager."""
    defined = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"} | set(keys_script().SECRETS)
    ingresses = [i for i in find(objects, "Ingress") if i["spec"].get("tls")]
    assert ingresses
    for ingress in ingresses:
        annotations = ingress["metadata"].get("annotations", {})
        cert_manager = annotations.get("cert-manager.io/cluster-issuer") or annotations.get("cert-manager.io/issuer")
        for tls in ingress["spec"]["tls"]:
            assert tls["secretName"] in defined or cert_manager, \
                f"Ingress {ingress['metadata']['name']}: Secret {tls['secretName']} is provided by nothing"


def test_every_ingress_is_https_to_the_client_and_to_its_backend(objects):
    """Public hosts get TLS, and the hop from the ingress controller to the pod is TLS too (every
    service serves HTTPS with its grpc-tls certificate beyond loopback)."""
    for ingress in find(objects, "Ingress"):
        name = ingress["metadata"]["name"]
        hosts = {r["host"] for r in ingress["spec"]["rules"]}
        covered = {h for t in ingress["spec"].get("tls", []) for h in t["hosts"]}
        assert hosts <= covered, f"Ingress {name}: hosts without TLS: {sorted(hosts - covered)}"
        annotations = ingress["metadata"].get("annotations", {})
        assert annotations.get("nginx.ingress.kubernetes.io/backend-protocol") == "HTTPS", name


def test_certification_pods_share_one_issuer_key_from_a_secret(objects):
    deployment = one(objects, "Deployment", "certification")
    container = pod_spec(deployment)["containers"][0]
    key_file = PurePosixPath(service_settings(objects, "certification").issuer_key_file)
    mount, volume = mount_of(deployment, container, key_file)
    assert volume["secret"]["secretName"] == "certification-issuer"
    item = next(i for i in volume["secret"]["items"] if i["path"] == str(key_file.relative_to(mount["mountPath"])))
    assert item["key"] in keys_script().SECRETS["certification-issuer"]()
    # The non-root user reads it through its fsGroup.
    assert volume["secret"].get("defaultMode", 0o644) & 0o040


def test_scaled_services_have_a_disruption_budget_and_an_autoscaler_and_kpi_stays_one(objects):
    for name in SCALED:
        deployment = one(objects, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        pdb = [p for p in find(objects, "PodDisruptionBudget")
               if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(pdb) == 1, name
        hpa = [h for h in find(objects, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name]
        assert len(hpa) == 1, name
        spec = hpa[0]["spec"]
        assert spec["scaleTargetRef"]["kind"] == "Deployment"
        assert 2 <= spec["minReplicas"] == deployment["spec"]["replicas"] <= spec["maxReplicas"], name
        assert spec["maxReplicas"] <= service_settings(objects, name).topic_partitions, name
    kpi = one(objects, "Deployment", "kpi")
    assert kpi["spec"]["replicas"] == 1 and kpi["spec"]["strategy"]["type"] == "Recreate"
    assert not [h for h in find(objects, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == "kpi"]


def test_the_dashboard_has_a_way_in(objects):
    port = settings_class("kpi")().dashboard_port
    kpi = pod_spec(one(objects, "Deployment", "kpi"))["containers"][0]
    assert service_settings(objects, "kpi").grpc_host == "0.0.0.0", "the dashboard listens on grpc_host"
    named = {p["name"]: p["containerPort"] for p in kpi["ports"]}
    service = one(objects, "Service", "kpi")
    service_port = next(p for p in service["spec"]["ports"] if named.get(p["targetPort"], p["targetPort"]) == port)
    backends = [p["backend"]["service"] for i in find(objects, "Ingress")
                for r in i["spec"]["rules"] for p in r["http"]["paths"]]
    assert any(b["name"] == "kpi" and b["port"].get("name", b["port"].get("number")) in
               (service_port["name"], service_port["port"]) for b in backends)


def test_every_object_lands_in_the_platform_namespace(objects):
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == "llr", f"{o['kind']} {o['metadata']['name']}"


# -- the keys Job's script ------------------------------------------------------------------------
def test_the_keys_script_creates_what_is_missing_and_leaves_what_exists(tmp_path):
    from services.certification.adapters.issuer_key import load_issuer_key
    from services.common.auth import Role, TokenIssuer, TokenVerifier
    from services.common.clock import SystemClock

    script = keys_script()
    store = {"token-signing": {"public": "operator's key"}}
    calls = []

    def api(method, path, body):
        calls.append((method, path))
        name = path.rsplit("/", 1)[-1]
        if method == "GET":
            return (200, store[name]) if name in store else (404, {})
        store[body["metadata"]["name"]] = body["data"]
        return 201, {}

    assert script.ensure_secrets(api, "llr") == ["certification-issuer", "grpc-tls"]
    assert store["token-signing"] == {"public": "operator's key"}
    assert ("POST", "/api/v1/namespaces/llr/secrets") in calls
    assert script.ensure_secrets(api, "llr") == []

    made = script.SECRETS["token-signing"]()
    clock = SystemClock()
    token = TokenIssuer(made["private"], "llr-dev-idp", clock).issue("vdab", Role.REGISSEUR)
    verifier = TokenVerifier(made["public"], "llr-dev-idp", clock, audience="llr-accounts")
    assert verifier.verify(token).organisation_id == "vdab"
    issuer = base64.b64decode(store["certification-issuer"]["issuer.pem"])
    (tmp_path / "issuer.pem").write_bytes(issuer)
    load_issuer_key(tmp_path / "issuer.pem", issuer_id="did:web:example", key_id="key-1")


def test_the_grpc_certificate_of_the_keys_script_serves_every_in_cluster_name(tmp_path):
    """A server with the made grpc-tls Secret answers a client trusting its ca.crt, dialled by
    the probes' 127.0.0.1 and verifying each service's in-cluster names."""
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2_grpc

    from services.common import healthcheck

    made = keys_script().SECRETS["grpc-tls"]("llr")
    for key, value in made.items():
        (tmp_path / key).write_bytes(value)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(made["tls.key"], made["tls.crt"])]))
    server.start()
    try:
        ca = tmp_path / "ca.crt"
        assert healthcheck.status(port, ca_file=ca) == "SERVING"
        for name in ("accounts", "kpi.llr.svc", "enrolments.llr.svc.cluster.local", "certification.llr"):
            assert healthcheck.status(port, ca_file=ca, server_name=name) == "SERVING", name
        assert healthcheck.status(port, ca_file=ca, server_name="accounts.other.svc") == "not running"
        assert healthcheck.status(port) == "not running", "no plaintext"
    finally:
        server.stop(0)
