"""Routing data: what decides who takes part in a case and which rules apply to it (convention 14).

The person (personnummer, name), the stay (vårdtillfälle), the units (kommun, vårdcentral, ward) and the agreement
(avtal) route a case to the parties that see it and set its deadlines. They come from the journal's messages, or from
a coordinator's audited change (Runtime.change_routing); a task form never carries them, unless the diagram names
the task as the step that decides one of them (the element property `routing`, e.g. the mobile team choosing the ward
of a direct admission), and then only the keys it names.
"""

from __future__ import annotations

# process_instances column -> the case data key that names that unit (the lanes' `unit_from` in lanes.json).
CASE_UNIT_KEYS: dict[str, str] = {
    "kommun": "kommun",
    "vardcentral": "vardcentral_hsa_id",
    "avdelning": "avdelning_hsa_id",
}
UNIT_COLUMN_OF_KEY: dict[str, str] = {key: column for column, key in CASE_UNIT_KEYS.items()}
PERSON_KEYS = ("personnummer", "namn")
STAY_KEYS = ("vardtillfalle_id",)
ROUTING_KEYS: frozenset[str] = frozenset({*PERSON_KEYS, *STAY_KEYS, *CASE_UNIT_KEYS.values(), "avtal"})


def routing_keys_in(data: dict[str, object]) -> list[str]:
    """The routing keys present in `data`, sorted (for error messages naming each)."""
    return sorted(k for k in data if k in ROUTING_KEYS)
