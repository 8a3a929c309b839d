"""``python -m local``: routes, invoke (reusing a running stack, or starting its own), schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.__main__ import format_routes, main
from local.stack import LocalStack
from local.template import load_template

pytestmark = pytest.mark.integration  # needs DynamoDB Local (one per test session)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "template.yaml"


def run_cli(*args: str, data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "local", *args, "--template", str(TEMPLATE), "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_routes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "--template", str(TEMPLATE)]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert ["GET", "/echo", "EchoFunction", "(Get)"] in lines
    assert lines[-1] == ["ANY", "$default", "FallbackFunction", "(Fallback)"]
    table = format_routes(load_template(TEMPLATE))
    assert len(table.splitlines()) == 1 + len(load_template(TEMPLATE).routes)


def _write_state(data_dir: Path, stack: LocalStack) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "stack.json").write_text(json.dumps(stack.state()))


def test_invoke_reuses_the_running_stack(stack: LocalStack, tmp_path: Path) -> None:
    _write_state(tmp_path, stack)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"hello": "世界"}))
    done = run_cli("invoke", "scheduled", str(event), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"received": {"hello": "世界"}, "function": "ScheduledFunction"}
    assert "using the running local stack" in done.stderr

    failed = run_cli("invoke", "BoomFunction", "-", data_dir=tmp_path, stdin="{}")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errorType"] == "RuntimeError"

    fired = run_cli(
        "schedule", "ScheduledFunction", "--event", "Nightly", "--time", "2030-05-01T02:00:00Z", data_dir=tmp_path
    )
    assert fired.returncode == 0, fired.stderr
    assert json.loads(fired.stdout)["received"]["time"] == "2030-05-01T02:00:00Z"

    env_only = run_cli("invoke", "EchoFunction", "--env-only", data_dir=tmp_path)
    assert env_only.returncode == 0, env_only.stderr
    env = json.loads(env_only.stdout)
    assert env["DYNAMODB_ENDPOINT"] == stack.dynamodb_endpoint
    assert env["ECHO_ONLY"] == "echo"


def test_invoke_starts_its_own_dynamodb_when_no_stack_runs(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"n": 1}')
    done = run_cli("invoke", "ScheduledFunction", str(event), data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["received"] == {"n": 1}
    assert (tmp_path / "data" / "dynamodb").is_dir()  # the persistent data dir was used


def test_unknown_function_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["invoke", "NoSuchFunction", "--env-only", "--template", str(TEMPLATE), "--data-dir", str(tmp_path)])
    assert code == 2
    assert "no function 'NoSuchFunction'" in capsys.readouterr().err


def test_schedule_works_in_a_plain_shell_with_jobs_that_fan_out_to_threads(tmp_path: Path) -> None:
    """``make schedule`` as the README shows it: no AWS variable in the shell, the real template, a
    job (the settlement planner) whose queries run in a thread pool."""
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOTO"))}
    done = subprocess.run(
        [sys.executable, "-m", "local", "schedule", "SettlementPlannerFunction", "--time", "2030-01-01T02:00:00Z",
         "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, env={**plain, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}, capture_output=True, text=True,
        timeout=180, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["as_of"] == "2030-01-01T02:00:00Z"
    planned = [json.loads(line) for line in done.stderr.splitlines() if '"settlement planned"' in line]
    assert [line["function_name"] for line in planned] == ["SettlementPlannerFunction"]
