"""``python -m local``: the local stack without Docker.

    python -m local run [--port 3000] [--data-dir .local/data] [--no-schedules]
    python -m local invoke <FunctionLogicalId | functions/ dir name> <event.json | -> [--env-only]
    python -m local schedule <FunctionLogicalId> [--time 2030-01-01T02:00:00Z] [--event NAME]
    python -m local routes
    python -m local pay ORDER_ID                       (the buyer pays: signed TRANSACTION.SUCCESS)
    python -m local ship-uploads [ORDER_ID]            (the shipping information WeChat's sandbox accepted)
    python -m local refund REFUND_ID [--status SUCCESS|ABNORMAL|CLOSED]   (signed REFUND.<status>)
    python -m local payout WITHDRAWAL_ID [--state SUCCESS|FAIL|CANCELLED]  (signed MCHTRANSFER.BILL.FINISHED)
    python -m local confirm-receipt ORDER_ID [--plain] [--event settlement|shipped|remind-shipping]
                                                       (WeChat's signed message push: the buyer confirmed)
    python -m local track ORDER_ID [--state delivered|in_transit|...]  (a signed Kuaidi100 tracking push)
    python -m local admin --username alice [--display-name NAME]   (tools.create_admin, locally)
    python -m local admin-access disable|enable|password --username alice   (tools.admin_access, locally)
    python -m local migrate [NAME] [--dry-run] [--restart]        (tools.migrations, locally)

``run`` records its ports in ``<data dir>/stack.json``; ``invoke`` and ``schedule`` use
the running stack's DynamoDB Local (and moto and sandbox) when it answers, and otherwise
start temporary ones on the same persistent data directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from local import dynamodb
from local.apigw import Router
from local.lambda_runtime import HandlerError
from local.stack import DEFAULT_ENV_FILE, ROOT, LocalStack, StackError, expand, read_env_file
from local.template import load_template
from local.template_model import Template, TemplateError

log = logging.getLogger("local")

DEFAULT_DATA_DIR = ROOT / ".local" / "data"
DEFAULT_TEMPLATE = ROOT / "template.yaml"
STATE_FILE = "stack.json"


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (default: %(default)s)")
    parser.add_argument("--env-vars", type=Path, default=DEFAULT_ENV_FILE, help="env overrides (default: %(default)s)")
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="persistent local data (default: %(default)s)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


def _add_ship_uploads(sub: Any) -> None:
    ship = sub.add_parser("ship-uploads", help="print the shipping information the local WeChat sandbox accepted")
    _common(ship)
    ship.add_argument("order_id", nargs="?", default=None, help="only this order (= out_trade_no)")


def _add_confirm_receipt(sub: Any) -> None:
    receipt = sub.add_parser("confirm-receipt", help="push WeChat's settlement of a paid order (the buyer "
                                                     "confirmed receipt in WeChat) to the local webhook, signed")
    _common(receipt)
    receipt.add_argument("order_id", help="the order id (= merchant_trade_no), paid with `pay` and shipped")
    receipt.add_argument("--plain", action="store_true", help="plain mode instead of the safe (encrypted) mode")
    receipt.add_argument("--event", default="settlement", choices=["settlement", "shipped", "remind-shipping"],
                         help="settlement (completes the order), shipped (the push at shipping) or remind-shipping")


def _add_track(sub: Any) -> None:
    track = sub.add_parser("track", help="move an order's parcels at the local logistics sandbox (signed push)")
    _common(track)
    track.add_argument("order_id", help="a shipped order (its parcels were subscribed when it shipped)")
    track.add_argument("--state", default="delivered",
                       choices=["collected", "in_transit", "out_for_delivery", "delivered", "problem", "refused"])


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 (one flat list of commands)
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole stack until Ctrl-C")
    _common(run)
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")), help="HTTP API port (PORT env)")
    run.add_argument(
        "--sandbox-port",
        type=int,
        default=_env_int("SANDBOX_PORT"),
        help="WeChat sandbox port (SANDBOX_PORT env; default: API port + 1)",
    )
    run.add_argument(
        "--dynamodb-port", type=int, default=_env_int("DYNAMODB_PORT"), help="DynamoDB Local port (default: a free one)"
    )
    run.add_argument("--no-schedules", action="store_true", help="do not fire schedules")
    run.add_argument("--lazy", action="store_true", help="cold-start functions on first use, not at start")

    invoke = sub.add_parser("invoke", help="invoke one function with an event file, like `sam local invoke`")
    _common(invoke)
    invoke.add_argument("function", help="logical ID, or the function's directory name under functions/")
    invoke.add_argument("event", nargs="?", default=None, help="event JSON file, or - for stdin")
    invoke.add_argument("--env-only", action="store_true", help="print the function's environment; do not invoke")

    schedule = sub.add_parser("schedule", help="fire a function's schedule once")
    _common(schedule)
    schedule.add_argument("function")
    schedule.add_argument("--time", default=None, help="the scheduled time (ISO 8601, default now)")
    schedule.add_argument("--event", default=None, help="the schedule's event name, if it has several")

    admin = sub.add_parser("admin", help="create a merchant admin in the local table (tools.create_admin)")
    _common(admin)
    admin.add_argument("--username", required=True)
    admin.add_argument("--display-name", default="")

    access = sub.add_parser("admin-access", help="disable or enable an admin, or change their password, in the "
                                                 "local table (tools.admin_access)")
    _common(access)
    access.add_argument("action", choices=["disable", "enable", "password"])
    access.add_argument("--username", required=True)

    migrate = sub.add_parser("migrate", help="run a data migration against the local table (tools.migrations)")
    _common(migrate)
    migrate.add_argument("name", nargs="?", default=None, help="the migration; none lists them")
    migrate.add_argument("--dry-run", action="store_true")
    migrate.add_argument("--restart", action="store_true")

    pay = sub.add_parser("pay", help="pay an order through the local WeChat Pay sandbox (signed notification)")
    _common(pay)
    pay.add_argument("order_id", help="the order id (= out_trade_no) returned by POST /orders")
    pay.add_argument("--notify-url", default=None, help="deliver here instead of the order's notify_url")

    _add_track(sub)
    refund = sub.add_parser("refund", help="finish a refund in the local WeChat Pay sandbox (signed notification)")
    _common(refund)
    refund.add_argument("refund_id", help="the refund id (= out_refund_no)")
    refund.add_argument("--status", default="SUCCESS", choices=["SUCCESS", "ABNORMAL", "CLOSED"])
    refund.add_argument("--notify-url", default=None, help="deliver here instead of the refund's notify_url")

    payout = sub.add_parser("payout", help="finish a withdrawal's WeChat transfer bill in the local sandbox "
                                           "(signed notification)")
    _common(payout)
    payout.add_argument("withdrawal_id", help="the withdrawal id (w_...) or its out_bill_no")
    payout.add_argument("--state", default="SUCCESS", choices=["SUCCESS", "FAIL", "CANCELLED"],
                        help="SUCCESS: the promoter confirmed the receipt; FAIL / CANCELLED: funds return")
    payout.add_argument("--reason", default=None, help="the bill's fail_reason (FAIL)")
    payout.add_argument("--notify-url", default=None, help="deliver here instead of the bill's notify_url")
    _add_confirm_receipt(sub)

    _add_ship_uploads(sub)
    routes = sub.add_parser("routes", help="print the HTTP API's route table")
    routes.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    routes.add_argument("-v", "--verbose", action="store_true")
    return parser


# ---------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running = running_stack(args.data_dir)
    if running is not None:
        print(
            f"a local stack already runs on {args.data_dir} (pid {running.get('pid')}, {running.get('base_url')})",
            file=sys.stderr,
        )
        return 2
    for port in {args.port, args.sandbox_port or args.port + 1}:
        if _port_open(port):
            print(f"port {port} is in use (another `make run`?): pass --port / set PORT", file=sys.stderr)
            return 2
    stack = LocalStack(
        args.template,
        data_dir=args.data_dir,
        env_file=args.env_vars,
        api_port=args.port,
        sandbox_port=args.sandbox_port,
        dynamodb_port=args.dynamodb_port,
        schedules=not args.no_schedules,
        warm=not args.lazy,
    )
    state_file = args.data_dir / STATE_FILE
    try:
        stack.start()
        state_file.write_text(json.dumps(stack.state(), indent=2) + "\n", encoding="utf-8")
        lines = stack.seed()
        _print_banner(stack, lines)
        while not stop.is_set():
            stop.wait(0.5)
        print("\nstopping the local stack...", file=sys.stderr)
    finally:
        stack.stop()
        with contextlib.suppress(OSError):
            state_file.unlink()
    return 0


def _print_banner(stack: LocalStack, seed_lines: list[str]) -> None:
    template = stack.template
    out = [
        "",
        f"Local stack for {_rel(template.path)}",
        f"  API       {stack.base_url}   ({len(template.routes)} routes: `python -m local routes`)",
        f"  sandbox   {stack.sandbox_url}   (WeChat and WeChat Pay stand-ins)",
        f"  DynamoDB  {stack.dynamodb_endpoint}   (data in {_rel(stack.data_dir / 'dynamodb')})",
        f"  SQS, S3   {stack.moto_endpoint}",
        f"  functions {len(template.functions)}, tables {len(template.tables)}, stream/queue triggers "
        f"{len(stack.pollers)}, schedules {len(template.schedules) if stack.scheduler else 0}",
    ]
    if seed_lines:
        out += ["", *seed_lines]
    out += ["", "Ctrl-C to stop.", ""]
    print("\n".join(out), flush=True)


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------------------------------
# invoke / schedule
# ---------------------------------------------------------------------------------------


def running_stack(data_dir: Path) -> dict[str, Any] | None:
    """The running stack's ports from ``stack.json``, if its DynamoDB Local answers."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    endpoint = f"http://127.0.0.1:{state.get('dynamodb_port')}"
    return state if dynamodb.is_answering(endpoint) else None


def _offline_stack(args: argparse.Namespace) -> LocalStack:
    state = running_stack(args.data_dir)
    kwargs: dict[str, Any] = {}
    if state is not None:
        log.info("using the running local stack (pid %s)", state.get("pid"))
        kwargs["dynamodb_endpoint"] = f"http://127.0.0.1:{state['dynamodb_port']}"
        kwargs["api_port"] = state.get("api_port")
        if _port_open(int(state.get("moto_port") or 0)):
            kwargs["moto_endpoint"] = f"http://127.0.0.1:{state['moto_port']}"
        if _port_open(int(state.get("sandbox_port") or 0)):
            kwargs["sandbox_url"] = f"http://127.0.0.1:{state['sandbox_port']}"
    else:
        log.info("no running local stack: starting a temporary DynamoDB Local on %s", args.data_dir)
    return LocalStack(
        args.template,
        data_dir=args.data_dir,
        env_file=args.env_vars,
        http=False,
        schedules=False,
        streams=False,
        queues=False,
        **kwargs,
    )


def _read_event(source: str | None) -> str:
    if source is None:
        return ""
    return sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")


def _parse_event(text: str, env: dict[str, str]) -> Any:
    """The event, with ``{{customer_token}}``/``{{admin_token}}`` filled in (local/hooks.py)."""
    if not text.strip():
        return {}
    from local.hooks import expand_event

    return json.loads(expand_event(text, env))


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def cmd_invoke(args: argparse.Namespace) -> int:
    if args.env_only:
        return _print_env(args)
    event_text = _read_event(args.event)
    with _offline_stack(args) as stack:
        if args.template.resolve() == DEFAULT_TEMPLATE:
            stack.seed()  # idempotent: a fresh data dir gets the demo merchant the sample events refer to
        event = _parse_event(event_text, dict(stack.env))
        try:
            with contextlib.redirect_stdout(sys.stderr):  # the function's logs: stderr, as sam does
                result = stack.invoke(args.function, event)
        except HandlerError as exc:
            _print_json(exc.payload())
            return 1
    _print_json(result)
    return 0


def _print_env(args: argparse.Namespace) -> int:
    template = load_template(args.template)
    spec = template.function(args.function)
    state = running_stack(args.data_dir) or {}
    values = {"DATA_DIR": str(args.data_dir.resolve()), "ROOT": str(ROOT)}
    for key in ("api_port", "sandbox_port", "dynamodb_port", "moto_port"):
        if key in state:
            values[key.upper()] = str(state[key])
    overrides = read_env_file(args.env_vars)
    env = {**spec.environment, **overrides.get("Parameters", {}), **overrides.get(spec.logical_id, {})}
    if not state:
        print("(no running stack: ports not known yet are left as placeholders)", file=sys.stderr)
    _print_json({k: expand(v, values) for k, v in env.items()})
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    with _offline_stack(args) as stack:
        try:
            with contextlib.redirect_stdout(sys.stderr):
                result = stack.fire_schedule(args.function, args.time, args.event)
        except HandlerError as exc:
            _print_json(exc.payload())
            return 1
    _print_json(result)
    return 0


def _local_appid(args: argparse.Namespace) -> str:
    """The AppID the local functions run with (template + env file), which the sandbox must use."""
    spec = load_template(args.template).function("WeChatPayWebhookFunction")
    overrides = read_env_file(args.env_vars)
    env = {**spec.environment, **overrides.get("Parameters", {}), **overrides.get(spec.logical_id, {})}
    return str(env.get("WECHAT_APP_ID") or "wx_local_app")


def cmd_pay(args: argparse.Namespace) -> int:
    """``pay ORDER_ID`` / ``refund REFUND_ID`` / ``payout WITHDRAWAL_ID``: play the buyer / the bank /
    the promoter confirming a transfer at the local WeChat Pay sandbox, which POSTs a genuinely
    signed, encrypted notification to the local webhook."""
    from local.wechatpay_sandbox.common import SandboxError
    from local.wechatpay_sandbox.local_stack import (
        complete_local_refund,
        finish_local_transfer,
        out_bill_no_of,
        pay_local_order,
    )

    if running_stack(args.data_dir) is None:
        print(f"no local stack runs on {args.data_dir}: start `make run` first", file=sys.stderr)
        return 2
    try:
        if args.command == "pay":
            event = pay_local_order(args.data_dir, args.order_id, appid=_local_appid(args), notify_url=args.notify_url)
        elif args.command == "payout":
            event = finish_local_transfer(args.data_dir, out_bill_no_of(args.withdrawal_id), appid=_local_appid(args),
                                          state=args.state, fail_reason=args.reason, notify_url=args.notify_url)
        else:
            event = complete_local_refund(args.data_dir, args.refund_id, appid=_local_appid(args), status=args.status,
                                          notify_url=args.notify_url)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reply = (event.response or b"").decode("utf-8", "replace")
    print(f"{event.event_type} → {event.url}: HTTP {event.status} {reply}".rstrip())
    return 0 if event.status in {200, 204} else 1


def cmd_ship_uploads(args: argparse.Namespace) -> int:
    """``ship-uploads [ORDER_ID]``: what the running stack's WeChat sandbox received through
    upload_shipping_info (docs/shipping.md)."""
    import urllib.parse
    import urllib.request

    state = running_stack(args.data_dir)
    if state is None:
        print(f"no local stack runs on {args.data_dir}: start `make run` first", file=sys.stderr)
        return 2
    query = urllib.parse.urlencode({"out_trade_no": args.order_id} if args.order_id else {})
    url = f"http://127.0.0.1:{state['sandbox_port']}/wechat/sandbox/shipping/uploads?{query}"
    with urllib.request.urlopen(url, timeout=5) as response:
        _print_json(json.loads(response.read()))
    return 0


def cmd_confirm_receipt(args: argparse.Namespace) -> int:
    """``confirm-receipt ORDER_ID``: play WeChat's message push (local/wechat_messages.py)."""
    from local.wechat_messages import push_for_order

    state = running_stack(args.data_dir)
    if state is None:
        print(f"no local stack runs on {args.data_dir}: start `make run` first", file=sys.stderr)
        return 2
    api_url = str(state.get("base_url") or f"http://127.0.0.1:{state.get('api_port')}")
    try:
        status, reply = push_for_order(args.data_dir, args.order_id, api_url=api_url, appid=_local_appid(args),
                                       event=args.event, safe=not args.plain)
    except LookupError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    print(f"{args.event} ({'plain' if args.plain else 'safe mode'}) → {api_url}/webhooks/wechat/messages: "
          f"HTTP {status} {reply}".rstrip())
    return 0 if status == 200 else 1


def cmd_track(args: argparse.Namespace) -> int:
    """``track ORDER_ID --state S``: the carrier moves the order's parcels; the logistics sandbox
    pushes each parcel's trail, signed with its subscription's salt, to the local webhook."""
    from local.logistics_sandbox import LogisticsSandbox

    if running_stack(args.data_dir) is None:
        print(f"no local stack runs on {args.data_dir}: start `make run` first", file=sys.stderr)
        return 2
    deliveries = LogisticsSandbox.beside(Path(args.data_dir) / "secrets.json").advance(args.order_id, args.state)
    if not deliveries:
        print(f"error: no parcel of {args.order_id} is subscribed (is it shipped?)", file=sys.stderr)
        return 2
    for delivery in deliveries:
        print(f"{delivery.number} {args.state} → {delivery.url}: HTTP {delivery.status} "
              f"{delivery.response.decode('utf-8', 'replace')}")
    return 0 if all(d.status == 200 for d in deliveries) else 1


def cmd_admin(args: argparse.Namespace) -> int:
    with _offline_stack(args) as stack:
        os.environ.update(stack.env)
        from tools.create_admin import main as create_admin

        forwarded = ["--username", args.username]
        if args.display_name:
            forwarded += ["--display-name", args.display_name]
        return create_admin(forwarded)


def cmd_admin_access(args: argparse.Namespace) -> int:
    with _offline_stack(args) as stack:
        os.environ.update(stack.env)
        from tools.admin_access import main as admin_access

        return admin_access([args.action, "--username", args.username])


def cmd_migrate(args: argparse.Namespace) -> int:
    with _offline_stack(args) as stack:
        os.environ.update(stack.env)
        from tools.migrations.__main__ import main as migrate

        forwarded = [args.name] if args.name else []
        forwarded += ["--dry-run"] if args.dry_run else []
        forwarded += ["--restart"] if args.restart else []
        return migrate(forwarded)


# ---------------------------------------------------------------------------------------
# routes
# ---------------------------------------------------------------------------------------


def format_routes(template: Template) -> str:
    router = Router(template.routes)
    ordered = sorted(router.routes, key=lambda c: (c.route.path, c.route.method == "ANY", c.route.method))
    rows = [(c.route.method, c.route.path, f"{c.route.function_id} ({c.route.event_name})") for c in ordered]
    if router.default is not None:
        rows.append(("ANY", "$default", f"{router.default.function_id} ({router.default.event_name})"))
    width_method = max([len(r[0]) for r in rows] + [6])
    width_path = max([len(r[1]) for r in rows] + [4])
    lines = [f"{'METHOD':<{width_method}}  {'PATH':<{width_path}}  FUNCTION"]
    lines += [f"{m:<{width_method}}  {p:<{width_path}}  {f}" for m, p, f in rows]
    if router.default is None:
        lines.append('(no $default route: unmatched requests get 404 {"message":"Not Found"})')
    return "\n".join(lines)


def cmd_routes(args: argparse.Namespace) -> int:
    print(format_routes(load_template(args.template)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    commands = {
        "run": cmd_run,
        "invoke": cmd_invoke,
        "schedule": cmd_schedule,
        "admin": cmd_admin,
        "admin-access": cmd_admin_access,
        "migrate": cmd_migrate,
        "routes": cmd_routes,
        "pay": cmd_pay,
        "ship-uploads": cmd_ship_uploads,
        "refund": cmd_pay,
        "payout": cmd_pay,
        "confirm-receipt": cmd_confirm_receipt,
        "track": cmd_track,
    }
    try:
        return commands[args.command](args)
    except (TemplateError, KeyError, FileNotFoundError, dynamodb.DynamoDBLocalError, StackError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
