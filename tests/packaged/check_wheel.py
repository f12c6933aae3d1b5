"""Quorum as an operator installs it: run the `quorum` of a wheel installed in a fresh virtualenv, outside
the checkout, against the wire-level fakes; exit non-zero on the first thing that does not work.

    python -m tests.packaged.check_wheel /path/to/venv   (CI: .ci/run builds the wheel and the venv)

It is a script, not a pytest test, because installing a wheel's dependencies needs the package index,
and tests never reach the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from tests.fakes import elastic_server, llm_servers

APPROVE = json.dumps({"verdict": "approve", "summary": "fine", "confidence": 0.9, "findings": []})


def run(venv: Path, cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(venv / "bin" / "quorum"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    print(f"$ quorum {' '.join(args)} -> {done.returncode}")
    if "Traceback" in done.stderr:
        sys.exit(f"traceback from quorum {' '.join(args)}:\n{done.stderr}")
    return done


def expect(condition: bool, what: str, done: subprocess.CompletedProcess[str] | None = None) -> None:
    if not condition:
        detail = f"\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}" if done else ""
        sys.exit(f"FAILED: {what}{detail}")
    print(f"ok: {what}")


def base_env(home: Path, venv: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TMPDIR")}
    path = f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    return keep | {"HOME": str(home), "PATH": path, "QUORUM_WORKSPACE__STATE_DIR": str(home / "state")}


def check_imports_from_the_venv(venv: Path, cwd: Path, env: dict[str, str]) -> None:
    probe = "import bot, config, guardrails, statemachine; print(bot.__file__, config.__file__)"
    done = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    site = str(venv.resolve())
    expect(done.returncode == 0 and all(p.startswith(site) for p in done.stdout.split()),
           f"the packages import from the venv, not a checkout ({done.stdout.strip()})", done)  # fmt: skip


def check_provision(venv: Path, cwd: Path, env: dict[str, str]) -> None:
    with elastic_server.FakeElasticsearch() as es, elastic_server.FakeKibana(api_key="k") as kibana:
        settings = {
            "QUORUM_ELASTICSEARCH__HOSTS": json.dumps([es.url]),
            "QUORUM_ELASTICSEARCH__KIBANA_URL": kibana.url,
            "QUORUM_ELASTICSEARCH__API_KEY": "k",
        }
        done = run(venv, cwd, env | settings, "provision")
        expect(done.returncode == 0, "quorum provision succeeds from the wheel's package data", done)
        expect(bool(es.index_templates) and bool(es.component_templates), "templates reached Elasticsearch")
        expect(len(kibana.imports) == 1, "the dashboards reached Kibana")


def check_doctor(venv: Path, cwd: Path, env: dict[str, str]) -> None:
    done = run(venv, cwd, env, "doctor", "--poll", "--format", "json", "--timeout", "2")
    names = [row["name"] for row in json.loads(done.stdout)["checks"]] if done.stdout.startswith("{") else []
    expect(done.returncode in (0, 1) and "prices" in names and "state directory" in names,
           "quorum doctor reports every row", done)  # fmt: skip
    expect(not (Path(env["HOME"]) / "state").exists(), "quorum doctor created nothing")


def check_eval_and_review(venv: Path, cwd: Path, env: dict[str, str]) -> None:
    with llm_servers.FakeLLMServer("openai", lambda request: llm_servers.Reply(APPROVE)) as llm:
        model = {
            "QUORUM_LLM__PROVIDER": "openai", "QUORUM_LLM__BASE_URL": llm.base_url,
            "QUORUM_LLM__MODEL": "gpt-4o-mini", "QUORUM_LLM__API_KEY": "sk-packaged-check",
            "QUORUM_AGENT__ENABLED": "false",
        }  # fmt: skip
        done = run(venv, cwd, env | model, "eval", "--format", "json")
        report = json.loads(done.stdout) if done.returncode == 0 else {}
        expect(done.returncode == 0 and len(report.get("cases", [])) >= 30,
               "quorum eval runs the bundled golden set", done)  # fmt: skip
        repo = cwd / "repo"
        git = ["git", "-c", "user.name=q", "-c", "user.email=q@example.com", "-C", str(repo)]
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-qm", "base"], check=True)
        (repo / "calc.py").write_text("def add(a, b):\n    return b + a\n")
        subprocess.run([*git, "commit", "-qam", "swap"], check=True)
        done = run(venv, cwd, env | model, "review", str(repo), "--base", "HEAD~1", "--format", "json")
        expect(done.returncode == 0 and json.loads(done.stdout)["decision"] == "approved",
               "quorum review approves a change with the bundled prompts", done)  # fmt: skip


def main(argv: list[str]) -> int:
    venv = Path(argv[1]).resolve()
    with tempfile.TemporaryDirectory(prefix="quorum-wheel-") as tmp:
        cwd = Path(tmp)
        env = base_env(cwd, venv)
        done = run(venv, cwd, env, "--version")
        expect(done.stdout.strip() == f"quorum {metadata.version('quorum-review')}", "quorum --version", done)
        check_imports_from_the_venv(venv, cwd, env)
        check_provision(venv, cwd, env)
        check_doctor(venv, cwd, env)
        check_eval_and_review(venv, cwd, env)
    print("the wheel works whole")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
