"""engine/diff.py: what changed between two versions' element metadata."""

from engine.diff import FieldChange, diff_elements

BEFORE = {
    "start": {"type": "startEvent", "process": "p"},
    "bedom": {
        "type": "userTask",
        "name": "Bedöm",
        "lane": "Slutenvård",
        "properties": {"form": "bedom", "due": "PT24H"},
        "process": "p",
    },
    "gammal": {"type": "userTask", "name": "Gammal", "lane": "Slutenvård", "process": "p"},
    "vanta": {"type": "intermediateCatchEvent", "timer": {"kind": "duration", "expression": "P1D"}, "process": "p"},
}


def test_identical_versions_have_no_differences():
    assert diff_elements(BEFORE, BEFORE).empty


def test_added_removed_and_changed_elements_with_what_changed():
    after = {
        "start": BEFORE["start"],
        "bedom": {
            "type": "manualTask",
            "name": "Bedöm behov",
            "lane": "Region primärvård",
            "properties": {"form": "bedom", "due": "PT48H", "mal": "Klart"},
            "process": "p",
        },
        "vanta": {**BEFORE["vanta"], "timer": {"kind": "duration", "expression": "P2D"}},
        "ny": {"type": "userTask", "name": "Ny", "lane": "Slutenvård", "process": "p"},
    }
    diff = diff_elements(BEFORE, after)
    assert diff.added == [{"id": "ny", "type": "userTask", "name": "Ny", "lane": "Slutenvård"}]
    assert diff.removed == [{"id": "gammal", "type": "userTask", "name": "Gammal", "lane": "Slutenvård"}]
    assert [c.id for c in diff.changed] == ["bedom", "vanta"]
    assert diff.changed[0].changes == [
        FieldChange("type", "userTask", "manualTask"),
        FieldChange("name", "Bedöm", "Bedöm behov"),
        FieldChange("lane", "Slutenvård", "Region primärvård"),
        FieldChange("property:due", "PT24H", "PT48H"),
        FieldChange("property:mal", None, "Klart"),
    ]
    assert diff.changed[1].changes == [
        FieldChange("timer", {"kind": "duration", "expression": "P1D"}, {"kind": "duration", "expression": "P2D"})
    ]


def test_a_removed_property_is_a_change_to_none():
    after = {**BEFORE, "bedom": {**BEFORE["bedom"], "properties": {"form": "bedom"}}}
    (change,) = diff_elements(BEFORE, after).changed
    assert change.changes == [FieldChange("property:due", "PT24H", None)]
