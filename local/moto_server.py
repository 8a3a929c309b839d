"""moto's server (SQS, S3) for the local stack, run as a child process by ``local.queues.MotoServer``.

Serves moto's WSGI app on 127.0.0.1 with every request signed to account ``000000000000`` (an
``x-moto-account-id`` header added by a middleware, so no process-wide ``MOTO_ACCOUNT_ID`` is
needed), prints ``listening <port>`` once bound, and exits when its stdin closes (its parent
ended, however it ended).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import Any

from local.template_model import ACCOUNT_ID

LOOPBACK = "127.0.0.1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--s3-min-part-bytes", type=int, default=None,
                        help="S3's 5 MiB minimum multipart part size, scaled down for tests")
    args = parser.parse_args(argv)
    if args.s3_min_part_bytes is not None:
        from moto.s3 import models as s3_models

        setattr(s3_models, "S3_UPLOAD_PART_MIN_SIZE", args.s3_min_part_bytes)  # noqa: B010 (not re-exported)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)

    def with_account(environ: dict[str, Any], start_response: Any) -> Any:
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = ACCOUNT_ID
        return app(environ, start_response)

    server = make_server(LOOPBACK, args.port, with_account, threaded=True, request_handler=MotoRequestHandler)
    print(f"listening {server.server_address[1]}", flush=True)

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=stop_when_stdin_closes, name="stdin-watch", daemon=True).start()
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
