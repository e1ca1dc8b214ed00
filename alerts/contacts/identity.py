"""One customer on several channels: a configured identity map, or the platform's union id
(``InboundMessage.customer_key`` is already ``u:<union_id>`` when the platform gave one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class IdentityLinker:
    def __init__(self, identity_map: Mapping[str, Sequence[str]]) -> None:
        self._person: dict[str, str] = {}
        for person, keys in identity_map.items():
            for key in keys:
                self._person[key] = f"p:{person}"

    def person(self, customer_key: str) -> str:
        """The key all of one person's contacts are recorded under."""
        return self._person.get(customer_key, customer_key)
