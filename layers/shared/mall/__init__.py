"""Shared code of the distribution mall (分销商城) backend, deployed as one Lambda layer.

- ``mall.domain``: business rules, pure Python, no I/O and no boto3.
- ``mall.dal``: the one data-access module over the single DynamoDB table.
- ``mall.integrations``: clients for WeChat and WeChat Pay.
- ``mall.api``: HTTP plumbing shared by the handlers (resolver, errors, auth, cursors).
"""
