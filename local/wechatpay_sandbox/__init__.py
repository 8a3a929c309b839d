"""A local stand-in for WeChat Pay API v3 (dev and tests only, never deployed).

``PaySandbox`` (``sandbox``) plays WeChat Pay for one merchant in public-key mode:

- ``handle(method, path, query, headers, body)`` serves the API under ``/wechatpay`` (JSAPI
  prepay, query, close, refunds, merchant transfers). It verifies the merchant's request
  signature like WeChat Pay does and signs every response with the platform private key.
- ``build_notification(...)`` builds a genuine notification (AES-256-GCM with the APIv3 key,
  RSA-SHA256 signature, ``Wechatpay-Serial`` = the public key id); ``send`` POSTs it.
- Actions (``pay``, ``complete_refund``, ``finish_transfer`` …) change the state like the user or
  the bank would, then deliver the notification to the order's ``notify_url`` (or the
  ``notify_url`` given to the constructor, which overrides it).

It is written directly on ``cryptography`` and the standard library, *independently* of
``mall.integrations.wechatpay``, so that the two can check each other. State lives in memory, or
in a JSON file (``state_path``) shared by processes (the local API server and the command line,
``python -m local.wechatpay_sandbox``: see ``cli``).

Modules: ``common`` (constants, request and event types, errors, ``send``), ``core`` (keys,
state, signatures), ``notifications`` (build, sign and deliver), ``actions`` (pay, refunds ending,
transfers finishing), ``payments``, ``refunds`` and ``transfers`` (the APIs), ``sandbox``
(``PaySandbox``, which combines them: the HTTP entry point and the dev-only controls),
``local_stack`` (the local stack's sandbox from another process), ``cli`` (the command line and a
stand-alone HTTP server). Each class builds on the one below it: ``SandboxCore`` ←
``Notifications`` ← ``Actions`` ← ``TransfersApi``; ``PaymentsApi`` and ``RefundsApi`` on
``SandboxCore``.
"""
