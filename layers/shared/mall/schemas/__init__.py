"""Request and response models of the HTTP API (pydantic). They are the contract the
mini-program codes against, published as the OpenAPI document."""
