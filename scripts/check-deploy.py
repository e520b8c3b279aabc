#!/usr/bin/env python3
"""Checks the deployment files without a Docker engine (these machines have
none): docker-compose.yml against the Compose Specification's JSON schema
(deploy/compose-spec.json, from compose-spec/compose-spec), then what the
schema cannot know — the services and profiles we rely on, healthchecks that
run our binary, files it mounts that exist, the Dockerfile's HEALTHCHECK and
non-root user, and the Prometheus and Grafana files parse."""
import json, os, re, sys

import jsonschema
import yaml

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
problems = []

def check(ok, what):
    if not ok:
        problems.append(what)

with open(os.path.join(root, "deploy/compose-spec.json")) as f:
    schema = json.load(f)
with open(os.path.join(root, "docker-compose.yml")) as f:
    compose = yaml.safe_load(f)
# The spec's own top-level "x-" extensions are allowed; interpolation is not
# resolved by a schema check, so values stay as written.
validator = jsonschema.Draft7Validator(schema)
for e in sorted(validator.iter_errors(compose), key=lambda e: list(e.path)):
    problems.append("docker-compose.yml: %s: %s" % ("/".join(map(str, e.path)) or "(top)", e.message))

services = compose.get("services", {})
for name in ("db", "app", "worker"):
    check(name in services, "docker-compose.yml: no service %r" % name)
for name in ("prometheus", "grafana"):
    check(services.get(name, {}).get("profiles") == ["monitoring"], "%s must be under the monitoring profile" % name)
check("healthcheck" in services.get("db", {}), "db has no healthcheck")
app_hc = services.get("app", {}).get("healthcheck", {}).get("test", [])
check(app_hc[:2] == ["CMD", "traderai"] and "health" in app_hc, "app's healthcheck must run `traderai health`: %r" % app_hc)
check(services.get("app", {}).get("depends_on", {}).get("db", {}).get("condition") == "service_healthy", "app must wait for a healthy db")
check("ports" not in services.get("worker", {}), "workers must scale (--scale worker=N): no fixed ports")
check(services.get("worker", {}).get("command") == ["worker"], "worker runs `traderai worker`")
for sname, svc in services.items():
    for v in svc.get("volumes", []) or []:
        src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
        if src.startswith("./"):
            check(os.path.exists(os.path.join(root, src)), "%s mounts %s, which does not exist" % (sname, src))
        else:
            check(src in (compose.get("volumes") or {}), "%s uses volume %r, which is not declared" % (sname, src))

with open(os.path.join(root, "Dockerfile")) as f:
    docker = f.read()
hc = [l for l in docker.splitlines() if l.startswith("HEALTHCHECK")]
check(len(hc) == 1 and '"traderai", "health"' in hc[0], "Dockerfile HEALTHCHECK must run `traderai health`: %r" % hc)
check("/dev/tcp" not in docker, "Dockerfile must not use /dev/tcp (dash has none)")
check(re.search(r"^USER traderai$", docker, re.M) is not None, "the runtime image must run as the traderai user")

with open(os.path.join(root, "deploy/prometheus.yml")) as f:
    prom = yaml.safe_load(f)
jobs = [j for j in prom.get("scrape_configs", []) if j.get("metrics_path") == "/metrics"]
check(bool(jobs) and "app:3000" in jobs[0]["static_configs"][0]["targets"], "prometheus.yml must scrape app:3000/metrics")
with open(os.path.join(root, "deploy/grafana/traderai.json")) as f:
    dash = json.load(f)
check(len(dash.get("panels", [])) >= 10, "the Grafana dashboard has too few panels")
for p in ("deploy/grafana/provisioning/datasources/prometheus.yml", "deploy/grafana/provisioning/dashboards/traderai.yml"):
    with open(os.path.join(root, p)) as f:
        check(isinstance(yaml.safe_load(f), dict), "%s does not parse" % p)

if problems:
    for p in problems:
        print("deploy check: " + p, file=sys.stderr)
    sys.exit(1)
print("deploy check: docker-compose.yml valid against the Compose Specification; Dockerfile, Prometheus and Grafana files consistent")
