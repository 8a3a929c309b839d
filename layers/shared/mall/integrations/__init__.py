"""Clients for the outside world (WeChat mini-program server APIs, WeChat Pay v3)."""
