"""Checks of docs/deploy/ that the pinned tools cannot do alone (run by scripts/check-deploy).

1. docs/deploy/compose.yaml against the Compose specification's JSON schema
   (docs/deploy/compose-spec.schema.json, vendored), after YAML merge keys are resolved
   as Compose resolves them.
2. The compose topology: MongoDB, the gateway, 2 user and 3 movie instances sharing one
   signing key from a Compose secret, the recommendation client; no literal secret in
   any `environment`.
3. docs/deploy/compose/traefik-dynamic.yml is docs/deploy/traefik/dynamic.yml with other
   server URLs only (same routers, prefixes, middlewares, weights, health checks).
4. Kubernetes: the Traefik Middleware (a custom resource kubernetes-validate has no schema
   for) strips exactly the Ingress's prefixes, which are the gateway's; kustomization.yaml
   lists every manifest; the Secret holds placeholders only.

Prints one line per check and exits 1 if any failed.
"""

import json
import re
import sys
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"
K8S = DEPLOY / "kubernetes"
PREFIXES = ["/seedotech.usermanagement", "/seedotech.moviemanagement"]

failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")
    if not ok:
        failures.append(name)


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def compose_checks():
    compose = load_yaml(DEPLOY / "compose.yaml")
    schema = json.loads((DEPLOY / "compose-spec.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    check(
        "compose.yaml matches the Compose specification schema",
        not errors,
        "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]),
    )

    services = compose.get("services", {})
    users = sorted(n for n, s in services.items() if s.get("build", {}).get("args", {}).get("SERVICE") == "user_service")
    movies = sorted(n for n, s in services.items() if s.get("build", {}).get("args", {}).get("SERVICE") == "movie_service")
    clients = [n for n, s in services.items() if s.get("build", {}).get("args", {}).get("SERVICE") == "recommendation_client"]
    check("compose: 2 user service instances", len(users) == 2, str(users))
    check("compose: 3 movie service instances", len(movies) == 3, str(movies))
    check("compose: the recommendation client", len(clients) == 1, str(clients))
    check("compose: MongoDB", services.get("mongodb", {}).get("image", "").startswith("mongo:"))
    check("compose: Traefik v3 gateway", services.get("gateway", {}).get("image", "").startswith("traefik:v3"))

    key_files = {services[u]["environment"].get("PORTCULLIS_SIGNING_KEY_FILE") for u in users}
    check(
        "compose: the user instances share one signing key from a Compose secret",
        len(key_files) == 1
        and None not in key_files
        and all("iam_signing_key" in services[u].get("secrets", []) for u in users)
        and "file" in compose.get("secrets", {}).get("iam_signing_key", {}),
        str(key_files),
    )
    # A secret never sits in the file: secret-looking variables are *_FILE paths or
    # ${...} interpolations from the caller's environment.
    secretish = re.compile(r"(PASSWORD|SECRET|TOKEN|KEY)$")
    literal = []
    for name, service in services.items():
        for var, value in (service.get("environment") or {}).items():
            if secretish.search(var) and not str(value).startswith("${"):
                literal.append(f"{name}.{var}")
    check("compose: no secret value in an environment", not literal, ", ".join(literal))


def traefik_checks():
    canonical = load_yaml(DEPLOY / "traefik" / "dynamic.yml")
    compose = load_yaml(DEPLOY / "compose" / "traefik-dynamic.yml")

    def without_urls(config):
        text = json.dumps(config, sort_keys=True)
        return re.sub(r'"url": "[^"]*"', '"url": "<server>"', text)

    check(
        "compose/traefik-dynamic.yml = traefik/dynamic.yml but for the server URLs",
        without_urls(canonical) == without_urls(compose),
    )
    servers = re.findall(r'"url": "([^"]*)"', json.dumps(compose))
    check(
        "compose/traefik-dynamic.yml points at the compose services",
        servers and all(re.match(r"http://(users|movies)-\d:880[89]$", s) for s in servers),
        str(servers),
    )


def kubernetes_checks():
    docs = {p.name: load_all(p) for p in sorted(K8S.glob("*.yaml"))}
    kustomization = docs.pop("kustomization.yaml")[0]
    check(
        "kubernetes/kustomization.yaml lists every manifest",
        sorted(kustomization.get("resources", [])) == sorted(docs),
        f"{sorted(kustomization.get('resources', []))} != {sorted(docs)}",
    )
    resources = [d for ds in docs.values() for d in ds]

    ingress = [d for d in resources if d["kind"] == "Ingress"]
    paths = sorted(
        p["path"] for i in ingress for r in i["spec"]["rules"] for p in r["http"]["paths"]
    )
    check("kubernetes: the Ingress routes the original's prefixes", paths == sorted(PREFIXES), str(paths))

    middleware = [d for d in resources if d["kind"] == "Middleware"]
    strip = middleware[0]["spec"]["stripPrefix"]["prefixes"] if middleware else []
    gateway = load_yaml(DEPLOY / "traefik" / "dynamic.yml")["http"]["middlewares"]
    check(
        "kubernetes: the Middleware strips the prefixes of the Ingress and of traefik/dynamic.yml",
        sorted(strip) == sorted(PREFIXES) == sorted(gateway["strip-service-prefix"]["stripPrefix"]["prefixes"]),
        str(strip),
    )
    wanted = f"{middleware[0]['metadata']['namespace']}-{middleware[0]['metadata']['name']}@kubernetescrd" if middleware else None
    check(
        "kubernetes: the Ingress uses that Middleware",
        bool(ingress) and all(
            i["metadata"].get("annotations", {}).get("traefik.ingress.kubernetes.io/router.middlewares") == wanted
            for i in ingress
        ),
    )

    secrets = [d for d in resources if d["kind"] == "Secret"]
    values = [v for s in secrets for v in (s.get("stringData") or {}).values()]
    check(
        "kubernetes: the Secret holds placeholders only",
        bool(values) and not any(s.get("data") for s in secrets) and all("REPLACE-ME" in v for v in values),
    )

    # Every container of a Deployment or StatefulSet: locked down, sized.
    for d in resources:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = d["spec"]["template"]["spec"]
        for c in pod["containers"]:
            sc = c.get("securityContext", {})
            name = f"{d['kind'].lower()}/{d['metadata']['name']}"
            check(
                f"kubernetes: {name} is locked down and sized",
                pod.get("securityContext", {}).get("runAsNonRoot") is True
                and pod["securityContext"].get("seccompProfile", {}).get("type") == "RuntimeDefault"
                and sc.get("readOnlyRootFilesystem") is True
                and sc.get("allowPrivilegeEscalation") is False
                and sc.get("capabilities", {}).get("drop") == ["ALL"]
                and "memory" in c.get("resources", {}).get("limits", {})
                and "memory" in c.get("resources", {}).get("requests", {}),
            )
            if any(p.get("containerPort") in (8808, 8809) for p in c.get("ports", [])):
                check(
                    f"kubernetes: {name} probes /healthz and /readyz and drains",
                    c["livenessProbe"]["httpGet"]["path"] == "/healthz"
                    and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
                    and c["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
                    and pod["terminationGracePeriodSeconds"] > c["lifecycle"]["preStop"]["sleep"]["seconds"] + 10,
                )


def main():
    for group in (compose_checks, traefik_checks, kubernetes_checks):
        try:
            group()
        except (KeyError, IndexError, TypeError, OSError, yaml.YAMLError) as error:
            check(group.__name__, False, f"{type(error).__name__}: {error}")
    if failures:
        print(f"{len(failures)} deploy check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
