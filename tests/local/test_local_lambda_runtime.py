"""In-process Lambda runtime: context, cold start once, JSON marshalling, env conflicts."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from local.lambda_runtime import LambdaContext, LambdaRuntime, env_conflicts
from local.template_model import FunctionSpec


def _spec(tmp_path: Path, name: str, code: str, timeout: float = 3.0) -> FunctionSpec:
    code_dir = tmp_path / name
    code_dir.mkdir()
    (code_dir / "app.py").write_text(code)
    return FunctionSpec(name, name, code_dir, "app.handler", "python3.13", {}, 512, timeout)


def test_context(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "Ctx", "def handler(e, c): return None\n", timeout=2)
    context = LambdaContext(spec, "req-1")
    assert context.function_name == "Ctx"
    assert context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:000000000000:function:Ctx"
    assert context.memory_limit_in_mb == "512"
    assert context.aws_request_id == "req-1"
    assert context.log_group_name == "/aws/lambda/Ctx"
    assert "[$LATEST]" in context.log_stream_name
    assert 1500 < context.get_remaining_time_in_millis() <= 2000


def test_cold_start_once_under_concurrency(tmp_path: Path) -> None:
    code = (
        "import time\nLOADS = []\nLOADS.append(1)\ntime.sleep(0.2)\n"
        "def handler(event, context):\n    return {'loads': len(LOADS), 'n': event['n']}\n"
    )
    runtime = LambdaRuntime({"Once": _spec(tmp_path, "Once", code)}, {"Once": {"ONCE_VAR": "1"}})
    results: list[object] = []
    threads = [threading.Thread(target=lambda i=i: results.append(runtime.call("Once", {"n": i}))) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["n"] for r in results) == list(range(8))  # type: ignore[index]
    assert {r["loads"] for r in results} == {1}  # type: ignore[index]
    assert runtime["Once"].cold_starts == 1


def test_results_are_marshalled_like_lambda(tmp_path: Path) -> None:
    code = (
        "from decimal import Decimal\n"
        "def handler(event, context):\n"
        "    event['x'] = 1\n"
        "    return {'d': Decimal('1.5')}\n"
    )
    runtime = LambdaRuntime({"Dec": _spec(tmp_path, "Dec", code)}, {})
    event = {"a": 1}
    outcome = runtime.invoke("Dec", event)
    assert outcome.error is not None and outcome.error.error_type == "Runtime.MarshalError"
    assert event == {"a": 1}  # the handler got a copy


def test_import_error_is_a_handler_error(tmp_path: Path) -> None:
    runtime = LambdaRuntime({"Bad": _spec(tmp_path, "Bad", "import not_a_module_anywhere\n")}, {})
    outcome = runtime.invoke("Bad", {})
    assert outcome.error is not None and outcome.error.error_type == "ModuleNotFoundError"


def test_env_conflicts_are_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    envs = {"A": {"SAME": "1", "DIFF": "a", "AWS_LAMBDA_FUNCTION_NAME": "A"}, "B": {"SAME": "1", "DIFF": "b"}}
    assert env_conflicts(envs) == {"DIFF": {"A": "a", "B": "b"}}
    with caplog.at_level(logging.WARNING, logger="local.lambda"):
        LambdaRuntime({}, envs)
    assert "DIFF" in caplog.text and "SAME" not in caplog.text


def test_each_function_sees_its_own_environment_and_the_process_keeps_its_own(tmp_path: Path) -> None:
    import os

    code = (
        "import os\n"
        "AT_IMPORT = os.environ.get('WHO')\n"
        "def handler(event, context):\n"
        "    env = os.environ\n"
        "    return [AT_IMPORT, os.getenv('WHO'), env.get('ONLY_A'), env.get('AWS_LAMBDA_FUNCTION_NAME')]\n"
    )
    writer = (
        "import os\n"
        "def handler(event, context):\n"
        "    os.environ['WRITTEN'] = 'by-w'\n"
        "    del os.environ['WHO']\n"
        "    return sorted(k for k in os.environ if k in ('WHO', 'WRITTEN'))\n"
    )
    specs = {"A": _spec(tmp_path, "A", code), "B": _spec(tmp_path, "B", code), "W": _spec(tmp_path, "W", writer)}
    envs = {"A": {"WHO": "a", "ONLY_A": "1"}, "B": {"WHO": "b"}, "W": {"WHO": "w"}}
    os.environ.pop("WHO", None)
    runtime = LambdaRuntime(specs, envs)
    assert runtime.call("A", {}) == ["a", "a", "1", "A"]
    assert runtime.call("B", {}) == ["b", "b", None, "B"]
    results: list[object] = []
    threads = [threading.Thread(target=lambda f=f: results.append(runtime.call(f, {}))) for f in "ABAB"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, results)) == sorted(map(str, [["a", "a", "1", "A"], ["b", "b", None, "B"]] * 2))
    assert runtime.call("W", {}) == ["WRITTEN"]  # its writes and deletes stay its own
    assert "WHO" not in os.environ and "WRITTEN" not in os.environ and os.getenv("ONLY_A") is None
    assert runtime.call("A", {})[1] == "a"


def test_threads_a_handler_starts_see_its_environment(tmp_path: Path) -> None:
    """A job that fans out to a thread pool (the settlement planner) needs the function's AWS
    variables there too: a plain shell has no AWS_DEFAULT_REGION, so boto3 fails in the workers."""
    import os

    code = (
        "import os\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def handler(event, context):\n"
        "    with ThreadPoolExecutor(max_workers=3) as pool:\n"
        "        return sorted(set(pool.map(lambda _: os.environ.get('AWS_DEFAULT_REGION'), range(6))))\n"
    )
    os.environ.pop("AWS_DEFAULT_REGION", None)
    runtime = LambdaRuntime({"Pool": _spec(tmp_path, "Pool", code)}, {"Pool": {"AWS_DEFAULT_REGION": "us-east-1"}})
    assert runtime.call("Pool", {}) == ["us-east-1"]
    assert "AWS_DEFAULT_REGION" not in os.environ  # the runner's own threads still see the process's


def test_each_log_line_names_the_function_that_wrote_it(tmp_path: Path) -> None:
    """One Powertools logger is shared by every function of the process (the layer's), and its
    Lambda context keys are per process: a line of a function must still carry that function's
    name while another is invoked in between, and in the threads it starts."""
    import io
    import json
    import sys

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "shared_log.py").write_text(
        "import io, logging, threading\n"
        "from aws_lambda_powertools import Logger\n"
        "BUFFER = io.StringIO()\n"
        "logger = Logger(service='mall-test', logger_handler=logging.StreamHandler(BUFFER))\n"
        "injected = threading.Event()\n"
        "other_done = threading.Event()\n"
    )
    withdraw = (
        "import threading\n"
        "import shared_log\n"
        "@shared_log.logger.inject_lambda_context(clear_state=True)\n"
        "def handler(event, context):\n"
        "    shared_log.injected.set()\n"
        "    shared_log.other_done.wait(5)\n"
        "    shared_log.logger.info('withdrawal requested')\n"
        "    t = threading.Thread(target=lambda: shared_log.logger.info('withdrawal worker thread'))\n"
        "    t.start(); t.join()\n"
    )
    stats = (
        "import shared_log\n"
        "@shared_log.logger.inject_lambda_context(clear_state=True)\n"
        "def handler(event, context):\n"
        "    shared_log.logger.info('stats counted')\n"
    )
    sys.path.insert(0, str(shared))
    try:
        functions = tmp_path / "functions"  # the shared module is a layer's: not a sibling of theirs
        functions.mkdir()
        specs = {"WithdrawFunction": _spec(functions, "WithdrawFunction", withdraw),
                 "StatsWorkerFunction": _spec(functions, "StatsWorkerFunction", stats)}
        runtime = LambdaRuntime(specs, {})
        import shared_log  # type: ignore[import-not-found]

        first = threading.Thread(target=lambda: runtime.call("WithdrawFunction", {}))
        first.start()
        assert shared_log.injected.wait(5)
        runtime.call("StatsWorkerFunction", {})  # re-injects the shared logger's keys meanwhile
        shared_log.other_done.set()
        first.join()
        buffer: io.StringIO = shared_log.BUFFER
        lines = {(line := json.loads(raw))["message"]: line["function_name"]
                 for raw in buffer.getvalue().splitlines()}
    finally:
        sys.path.remove(str(shared))
        sys.modules.pop("shared_log", None)
    assert lines == {"withdrawal requested": "WithdrawFunction", "withdrawal worker thread": "WithdrawFunction",
                     "stats counted": "StatsWorkerFunction"}


def test_a_module_imported_on_first_use_waits_for_a_cold_start_in_another_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two functions share one process here: a handler's late import must not load a package
    while another function's cold start is loading it (it could see it half initialised)."""
    lazy_dir = tmp_path / "lazy"
    lazy_dir.mkdir()
    (lazy_dir / "late_loaded_helper.py").write_text("import time\nLOADED_AT = time.monotonic()\n")
    monkeypatch.syspath_prepend(str(lazy_dir))
    slow = ("import time\nSTARTED = time.monotonic()\ntime.sleep(0.6)\nDONE = time.monotonic()\n"
            "def handler(event, context):\n    return {'started': STARTED, 'done': DONE}\n")
    late = ("def handler(event, context):\n"
            "    import time\n    called = time.monotonic()\n"
            "    if event.get('late'):\n        import late_loaded_helper\n"
            "        return {'called': called, 'loaded': late_loaded_helper.LOADED_AT}\n"
            "    return {'called': called, 'returned': time.monotonic()}\n")
    runtime = LambdaRuntime({"Slow": _spec(tmp_path, "Slow", slow), "Late": _spec(tmp_path, "Late", late)}, {})
    runtime.call("Late", {})  # warm: its own cold start is over
    results: dict[str, Any] = {}
    cold = threading.Thread(target=lambda: results.update(slow=runtime.call("Slow", {})))
    cold.start()
    time.sleep(0.15)
    results["loaded"] = runtime.call("Late", {})  # an import statement of a loaded module does not wait
    results["late"] = runtime.call("Late", {"late": True})
    cold.join()
    assert results["loaded"]["returned"] < results["slow"]["done"]
    assert results["late"]["called"] < results["slow"]["done"] <= results["late"]["loaded"]


RESOLVER = '''
import threading
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()
ENTERED = threading.Barrier(2, timeout=5)


@app.get("/items/<item_id>")
def item(item_id: str) -> dict:
    ENTERED.wait()  # both requests are inside their routes before either reads its request
    return {"argument": item_id, "path": app.current_event.path, "route_args": app.context["_route_args"]}


def handler(event, context):
    return app.resolve(event, context)
'''


def _http_event(path: str) -> dict[str, Any]:
    return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": {},
            "requestContext": {"http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "127.0.0.1", "userAgent": "t"},
                               "requestId": "r", "routeKey": "$default", "stage": "$default"},
            "isBase64Encoded": False}


def test_concurrent_requests_each_see_their_own_request_in_powertools_resolvers(tmp_path: Path) -> None:
    # In Lambda a process serves one request at a time, and Powertools keeps the request on the router
    # class; here two functions (and two requests of one) run at once in threads of one process.
    runtime = LambdaRuntime({"One": _spec(tmp_path, "One", RESOLVER)}, {})
    results: dict[str, Any] = {}

    def call(item: str) -> None:
        results[item] = runtime.call("One", _http_event(f"/items/{item}"))

    threads = [threading.Thread(target=call, args=(item,)) for item in ("a1", "b2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for item in ("a1", "b2"):
        assert results[item]["statusCode"] == 200, results[item]
        body = json.loads(results[item]["body"])
        assert body == {"argument": item, "path": f"/items/{item}", "route_args": {"item_id": item}}, body


DEADLOCK_SCENARIO = '''
import sys, threading, time
from pathlib import Path
from local.lambda_runtime import LambdaRuntime
from local.template_model import FunctionSpec

root = Path(sys.argv[1])
(root / "lock_order_helper.py").write_text("import time\\ntime.sleep(0.3)\\n")
(root / "lock_order_models.py").write_text(
    "from pydantic import BaseModel, ConfigDict\\n"
    "class Late:\\n"
    "    @classmethod\\n"
    "    def __get_pydantic_core_schema__(cls, source, handler):\\n"
    "        import lock_order_helper  # an import made while the schema is built\\n"
    "        from pydantic_core import core_schema\\n"
    "        return core_schema.int_schema()\\n"
    "class BuiltByARequest(BaseModel):\\n"
    "    model_config = ConfigDict(defer_build=True)\\n"
    "    x: Late\\n"
    "class BuiltByAColdStart(BaseModel):\\n"
    "    model_config = ConfigDict(defer_build=True)\\n"
    "    y: int\\n")
sys.path.insert(0, str(root))
specs = {}
for name, code in {
    "Warm": "import lock_order_models\\n"
            "def handler(e, c):\\n"
            "    return lock_order_models.BuiltByARequest.model_validate({'x': 1}).x if e else 0\\n",
    "Cold": "import time, lock_order_models\\ntime.sleep(0.4)\\n"
            "BUILT = lock_order_models.BuiltByAColdStart.model_validate({'y': 2}).y\\n"
            "def handler(e, c):\\n    return BUILT\\n",
}.items():
    (root / name).mkdir()
    (root / name / "app.py").write_text(code)
    specs[name] = FunctionSpec(name, name, root / name, "app.handler", "python3.13", {}, 256, 10.0)
runtime = LambdaRuntime(specs, {})
assert runtime.call("Warm", {}) == 0  # its cold start is over; the models are not built yet
results = {}
cold = threading.Thread(target=lambda: results.update(cold=runtime.call("Cold", {})), daemon=True)
cold.start()
time.sleep(0.1)  # the cold start holds the runtime's lock while its module sleeps
warm = threading.Thread(target=lambda: results.update(warm=runtime.call("Warm", {"build": True})), daemon=True)
warm.start()
cold.join(20)
warm.join(20)
print("ok" if results == {"cold": 2, "warm": 1} else f"stuck: {results}", flush=True)
'''


def test_a_model_built_on_first_use_and_a_cold_start_in_another_thread_do_not_deadlock(tmp_path: Path) -> None:
    """A request building a pydantic model on first use (pydantic's rebuild lock held) imports a module,
    while another function's cold start (the runtime's import lock held) builds a model too: with two
    locks taken in opposite orders both threads waited forever. Run in a child process, so a regression
    fails this test instead of leaving the suite's own runtime locked."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", DEADLOCK_SCENARIO, str(tmp_path)], cwd=root, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.stdout.strip().splitlines()[-1:] == ["ok"], done.stdout + done.stderr
