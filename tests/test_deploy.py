"""deploy/ holds together with the code: no container engine runs here, so this reads the files.

They parse, every `moodtune` command in them and in the README section parses with the real CLI,
every setting they pass is one the bot reads, and the proxy, bot and database meet."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from bot.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SECTION = "## Running on several workers (PostgreSQL + webhook)"
# Read by compose.yaml itself (interpolation), never by the bot.
COMPOSE_ONLY = {"MOODTUNE_DOMAIN", "POSTGRES_PASSWORD"}
# What the bot container cannot serve the webhook without.
REQUIRED = {"TELEGRAM_BOT_TOKEN", "DATABASE_URL", "WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_PORT"}
VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
# `moodtune`, a subcommand, its arguments: up to a line end, code span end, comment or pipe.
COMMAND = re.compile(r"\bmoodtune[ \t]+([a-z][^\n`\\#|;&<>]*)")


def env_file(path: Path) -> dict[str, str]:
    lines = [x for x in path.read_text().splitlines() if x.strip() and not x.startswith("#")]
    return {k.strip(): v.strip() for k, v in (x.split("=", 1) for x in lines)}


EXAMPLE = env_file(DEPLOY / "moodtune.env.example")
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def expand(text: str) -> str:
    """Fill `${VAR}` as Compose would from deploy/.env copied from the example."""

    def value(m: re.Match) -> str:
        name, op, arg = m.groups()
        return EXAMPLE.get(name) or (arg if op in {"-", ":-"} else f"{name.lower()}-value")

    return VAR.sub(value, text)


def parses(argv: list[str]) -> bool:
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        return False
    return True


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    assert re.findall(r"^## .*", text, re.M)[0] == "## Quick start", "quick start comes first"
    start = text.index(SECTION)
    return text[start : text.find("\n## ", start + 1)]


def dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [x.split(None, 1) for x in text.splitlines() if x.strip() and not x.startswith("#")]
    return [(op.upper(), arg.strip()) for op, arg in lines]


def test_compose_runs_postgres_the_bot_and_a_proxy():
    assert set(SERVICES) == {"db", "bot", "proxy"}
    db, bot, proxy = SERVICES["db"], SERVICES["bot"], SERVICES["proxy"]
    assert db["image"] == "postgres:16" and "pg_isready" in db["healthcheck"]["test"]
    assert VAR.fullmatch(db["environment"]["POSTGRES_PASSWORD"]), "password from deploy/.env"
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])
    assert bot["restart"] == db["restart"] == proxy["restart"] == "unless-stopped"
    assert bot["deploy"]["resources"]["limits"]["memory"]
    assert (DEPLOY / bot["build"]["context"] / bot["build"]["dockerfile"]).is_file()
    assert bot["env_file"] == ".env", "compose reads deploy/.env too: one file for both"
    assert "ports" not in bot and "ports" not in db, "only the proxy faces the internet"
    assert sorted(proxy["ports"]) == ["443:443", "80:80"]
    mounts = [v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", [])]
    named = {m for m in mounts if not m.startswith(".")}
    assert named == set(COMPOSE["volumes"]) and "pgdata" in named
    url = urlsplit(expand(bot["environment"]["DATABASE_URL"]))
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "db", 5432)
    db_env = db["environment"]
    assert (url.username, url.path) == (db_env["POSTGRES_USER"], "/" + db_env["POSTGRES_DB"])
    assert VAR.search(bot["environment"]["DATABASE_URL"])[1] == "POSTGRES_PASSWORD"


def test_every_moodtune_command_parses_with_the_real_cli():
    texts = {p.name: p.read_text() for p in DEPLOY.glob("[!.]*") if p.is_file()}
    texts["README.md section"] = readme_section()
    found = {(w, *shlex.split(expand(c))) for w, t in texts.items() for c in COMMAND.findall(t)}
    (cmd,) = [json.loads(arg) for op, arg in dockerfile() if op == "CMD"]
    assert cmd[0] == "moodtune" and "ENTRYPOINT" not in dict(dockerfile())
    found.add(("Dockerfile CMD", *cmd[1:]))
    # The deployment steps must not vanish from the files.
    steps = {c[:3] for c in found}
    assert {("README.md section", "webhook", s) for s in ("set", "info", "delete")}.issubset(steps)
    assert ("compose.yaml", "run", "--webhook") in steps
    assert re.fullmatch(r"moodtune run --webhook --workers \S+", SERVICES["bot"]["command"])
    wrong = sorted(f"{c[0]}: moodtune {shlex.join(c[1:])}" for c in found if not parses(c[1:]))
    assert not wrong, "\n".join(["the CLI refuses:", *wrong])


def test_every_setting_passed_to_the_bot_is_one_it_reads():
    documented = set(env_file(ROOT / ".env.example"))
    source = (ROOT / "bot" / "settings.py").read_text()
    environment = SERVICES["bot"]["environment"]
    interpolated = {m[0] for m in VAR.findall((DEPLOY / "compose.yaml").read_text())}
    assert COMPOSE_ONLY.issubset(EXAMPLE) and COMPOSE_ONLY.issubset(interpolated)
    keys = (set(EXAMPLE) | set(environment) | interpolated) - COMPOSE_ONLY
    unknown = sorted(k for k in keys if k not in documented or f'"{k}"' not in source)
    assert not unknown, f"not settings the bot reads (.env.example, bot/settings.py): {unknown}"
    assert REQUIRED.issubset(set(EXAMPLE) | set(environment)), "the bot needs these"
    assert not set(EXAMPLE) & set(environment), "compose's environment would hide deploy/.env"


def test_the_proxy_forwards_only_the_webhook_path_to_the_bot():
    caddy = (DEPLOY / "Caddyfile").read_text()
    url = urlsplit(expand(SERVICES["bot"]["environment"]["WEBHOOK_URL"]))
    assert url.scheme == "https" and url.hostname == EXAMPLE["MOODTUNE_DOMAIN"]
    assert re.findall(r"^\s*\{\$(\w+)\}\s*\{", caddy, re.M) == ["MOODTUNE_DOMAIN"]
    assert "MOODTUNE_DOMAIN" in SERVICES["proxy"]["environment"]
    assert re.findall(r"^\s*handle\s+(/\S*)", caddy, re.M) == [url.path]
    port = EXAMPLE["WEBHOOK_PORT"]
    assert re.findall(r"^\s*reverse_proxy\s+(.+?)\s*$", caddy, re.M) == [f"bot:{port}"]
    assert re.search(r"^\s*handle\s*\{\s*respond 404\s*\}", caddy, re.M), "the rest: 404"
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in SERVICES["proxy"]["volumes"]


def test_the_image_installs_the_project_and_runs_as_a_user():
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert any(op == "RUN" and "pip install /src" in arg for op, arg in steps)
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in {"root", "0"}, "the bot must not run as root"
    assert ("EXPOSE", EXAMPLE["WEBHOOK_PORT"]) in steps
    copied = {src for op, arg in steps if op == "COPY" for src in arg.split()[:-1]}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", project["project"]["readme"]} <= copied
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore and all(f"!{src}" in ignore for src in copied), "context: only these"
