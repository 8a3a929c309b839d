"""Shared code of the distribution mall (分销商城) backend, deployed as one Lambda layer.

- ``mall.domain``: business rules, pure Python, no I/O and no boto3.
- ``mall.dal``: the one data-access module over the single DynamoDB table.
- ``mall.integrations``: clients for WeChat and WeChat Pay.
- ``mall.api``: HTTP plumbing shared by the handlers (resolver, errors, auth, cursors).
"""

# Before any class of the layer is created: the dataclass methods compiled when the layer was built.
from mall.runtime import dataclass_code as _dataclass_code

_dataclass_code.install()
