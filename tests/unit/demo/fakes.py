"""What the demo's parts see of the platform (``services.demo.api.Api``), with one fake service behind it."""
from __future__ import annotations


class OneServiceApi:
    """``stub(...)`` is always ``service``; ``auth(...)`` is no metadata."""

    def __init__(self, service) -> None:
        self.service = service

    def stub(self, *names):
        return self.service

    def auth(self, *who):
        return ()
