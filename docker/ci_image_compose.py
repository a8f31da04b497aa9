#!/usr/bin/env python
"""What docker-compose.yml says about the app services, for docker/ci-image.sh.

    python docker/ci_image_compose.py ENV_FILE [NAME=VALUE ...]

Writes the app services' environment to ENV_FILE (for ``podman run --env-file``), with
``${VAR:?message}``, ``${VAR:-default}`` and ``${VAR}`` read from this environment as
Compose does, and NAME=VALUE replacing the value of a variable the compose file sets (only
where the stack reaches its database, Redis and SMTP server: the names stay the file's).
Prints bash assignments for migrate, web, worker and clock: ``cmd_<service>`` (the command,
an array), ``health_<service>`` (the healthcheck test as JSON, for ``--health-cmd``),
``health_timeout_<service>``, ``health_bound_<service>`` (start_period + retries x
interval: when Compose would call it unhealthy) and ``grace_<service>`` (stop_grace_period
in whole seconds, Compose's default 10). Reads the file with PyYAML, which resolves the
``<<: *app`` merges as Compose does.
"""

import json
import math
import os
import re
import shlex
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("migrate", "web", "worker", "clock")
UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:\?|:-)(?P<arg>[^}]*))?\}")


def seconds(duration: str | None, default: float) -> float:
    if duration is None:
        return default
    return sum(float(n) * UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration)))


def interpolate(value: str) -> str:
    def substitute(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = os.environ.get(name, "")
        if op == ":?" and not current:
            sys.exit(f"docker-compose.yml: {name}: {arg}")
        if op == ":-" and not current:
            return arg
        return current

    return VARIABLE.sub(substitute, value)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    env_file, overrides = Path(argv[0]), dict(pair.split("=", 1) for pair in argv[1:])
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    environment = {name: interpolate(str(value)) for name, value in services["web"]["environment"].items()}
    unknown = set(overrides) - set(environment)
    if unknown:
        sys.exit(f"not variables of the compose file's app environment: {sorted(unknown)}")
    environment.update(overrides)
    if any("\n" in value for value in environment.values()):
        sys.exit("a value with a newline cannot go in an env file")
    env_file.write_text("".join(f"{name}={value}\n" for name, value in environment.items()))

    for name in SERVICES:
        service = services[name]
        if service["environment"] != services["web"]["environment"]:
            sys.exit(f"{name}: not the web service's environment")
        command = service["command"]
        command = shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]
        print(f"cmd_{name}=({' '.join(shlex.quote(arg) for arg in command)})")
        print(f"grace_{name}={math.ceil(seconds(service.get('stop_grace_period'), 10))}")
        check = service.get("healthcheck")
        if check:
            test = check["test"]
            argv_test = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
            bound = seconds(check.get("start_period"), 0) + check.get("retries", 3) * seconds(check.get("interval"), 30)
            print(f"health_{name}={shlex.quote(json.dumps(argv_test))}")
            print(f"health_timeout_{name}={math.ceil(seconds(check.get('timeout'), 30))}s")
            print(f"health_bound_{name}={math.ceil(bound)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
