"""``python -m local.wechatpay_sandbox``: the command line (see ``cli``)."""

from local.wechatpay_sandbox.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
