"""Shared code of the distribution mall (分销商城) backend, deployed as one Lambda layer.

- ``mall.domain``: business rules, pure Python, no I/O and no boto3.
- ``mall.dal``: the one data-access module over the single DynamoDB table.
- ``mall.integrations``: clients for WeChat and WeChat Pay.
- ``mall.api``: HTTP plumbing shared by the handlers (resolver, errors, auth, cursors).
"""

# First, in a Lambda environment: no cyclic garbage collection until the entry point ends init
# (mall.runtime.init_gc). Then, before any class of the layer is created and before boto3 is imported:
# the dataclass methods and the regular expressions compiled when the layer was built (a layer as
# built; a source tree has none).
from mall.runtime import dataclass_code as _dataclass_code
from mall.runtime import init_gc as _init_gc
from mall.runtime import pattern_code as _pattern_code

_init_gc.pause()
_dataclass_code.install()
_pattern_code.install()
