#!/usr/bin/python3
"""Runs /bin/prometheus with consul_sd_configs turned into file_sd_configs filled from Consul."""
import json
import os
import sys
import time
import urllib.request

import yaml

STATE = "/prometheus/.consul-sd"
INTERVAL_S = 10


def rewrite(config, jobs):
    for job in config.get("scrape_configs") or []:
        for index, sd in enumerate(job.pop("consul_sd_configs", None) or []):
            path = f"{STATE}/{job['job_name']}-{index}.json"
            jobs.append((path, sd))
            job.setdefault("file_sd_configs", []).append({"files": [path], "refresh_interval": f"{INTERVAL_S}s"})
    return config


def get(server, path):
    with urllib.request.urlopen(f"http://{server}{path}", timeout=5) as answer:
        return json.load(answer)


def targets(sd):
    server = sd.get("server", "localhost:8500")
    wanted = set(sd.get("tags") or [])
    groups = []
    for name, tags in get(server, "/v1/catalog/services").items():
        if sd.get("services") and name not in sd["services"]:
            continue
        if not wanted.issubset(tags or []):
            continue
        for entry in get(server, f"/v1/catalog/service/{name}"):
            address = entry.get("ServiceAddress") or entry.get("Address")
            groups.append({
                "targets": [f"{address}:{entry['ServicePort']}"],
                "labels": {
                    "__meta_consul_service": name,
                    "__meta_consul_service_id": entry.get("ServiceID", name),
                    "__meta_consul_tags": "," + ",".join(entry.get("ServiceTags") or []) + ",",
                },
            })
    return groups


def discover_forever(jobs):
    while True:
        for path, sd in jobs:
            try:
                groups = targets(sd)
            except Exception as error:  # Consul not up yet: keep the last list, as Prometheus does.
                print(f"consul-sd: {error}", file=sys.stderr)
                continue
            with open(path + ".tmp", "w") as out:
                json.dump(groups, out)
            os.replace(path + ".tmp", path)
        time.sleep(INTERVAL_S)


def main(args):
    config_arg = next((a for a in args if a.startswith("--config.file=")), None)
    if config_arg is None:
        os.execv("/bin/prometheus", ["/bin/prometheus", *args])
    with open(config_arg.split("=", 1)[1]) as source:
        config = yaml.safe_load(source)
    jobs = []
    config = rewrite(config, jobs)
    os.makedirs(STATE, exist_ok=True)
    rewritten = f"{STATE}/prometheus.yml"
    with open(rewritten, "w") as out:
        yaml.safe_dump(config, out)
    for path, _ in jobs:
        with open(path, "w") as out:
            json.dump([], out)
    if jobs and os.fork() == 0:
        discover_forever(jobs)
    args = [f"--config.file={rewritten}" if a == config_arg else a for a in args]
    os.execv("/bin/prometheus", ["/bin/prometheus", *args])


main(sys.argv[1:])
