import pytest

from engine.bpmn.xml_safety import load_xml
from engine.domain.errors import DeployRejected, TooLarge
from tests.diagrams import single_task

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</bpmn:definitions>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol2;</bpmn:definitions>"""


@pytest.mark.parametrize("payload", [XXE, LAUGHS, XXE.decode().encode("utf-16")])
def test_doctype_and_entities_are_refused(payload):
    with pytest.raises(DeployRejected, match="DOCTYPE|driftsättas"):
        load_xml(payload)


def test_size_limit():
    with pytest.raises(TooLarge):
        load_xml(b"<a/>" + b" " * 2000, max_bytes=1000)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "iso-8859-1"])
def test_encodings_with_declaration_or_bom(encoding):
    text = single_task("p", "Kontakta närstående")
    if encoding == "iso-8859-1":
        text = text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    elif encoding == "utf-16":
        text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    root = load_xml(text.encode(encoding))
    names = [el.get("name") for el in root.iter() if el.get("name")]
    assert "Kontakta närstående" in names


def test_latin1_without_declaration_is_read_as_such():
    text = single_task("p", "Kontakta närstående").replace('<?xml version="1.0" encoding="UTF-8"?>\n', "")
    root = load_xml(text.encode("iso-8859-1"))
    assert "Kontakta närstående" in [el.get("name") for el in root.iter() if el.get("name")]


def test_not_xml_gives_a_readable_reason():
    with pytest.raises(DeployRejected) as info:
        load_xml(b"this is not xml")
    assert "Ogiltig XML" in info.value.diagnostics[0].message
