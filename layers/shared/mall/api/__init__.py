"""HTTP plumbing shared by every API handler: the resolver with our error shape,
authentication, and pagination cursors. Handlers import from here and stay thin.

Handlers take Powertools' HTTP names (``Response``, ``Query``, ``OpenAPIResponse`` ...) from
``mall.api`` modules too: importing this package first makes the event handler's package lean
(``mall.api.lean_powertools``)."""

from mall.api import lean_powertools

lean_powertools.install()
