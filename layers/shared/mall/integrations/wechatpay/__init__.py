"""WeChat Pay API v3: notification verification, request signing and the API client.

Modules (import the one you need; nothing is re-exported here to keep cold starts lean):

- ``notifications``: verify and decrypt a webhook notification, build the webhook reply.
- ``resources``: typed parsers of the decrypted resources and of API response bodies.
- ``signing``: the merchant ``Authorization`` header and the ``wx.requestPayment`` parameters.
- ``client``: ``WeChatPayClient`` over ``urllib`` (JSAPI prepay, query, close, refund, transfer).
- ``crypto``: key loading, RSA PKCS#1 v1.5 SHA-256, AES-256-GCM, RSA-OAEP sensitive fields.
- ``verifier``: the ``Wechatpay-*`` signature check shared by notifications and API responses.
- ``tracing``: each API call as an X-Ray subsegment where the function is traced.
- ``errors``: ``NotificationRejected`` and the ``WeChatPayError`` family.
"""
