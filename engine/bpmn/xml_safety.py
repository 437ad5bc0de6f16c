"""Safe loading of BPMN XML: no external entities, no DTD or network access, no entity expansion, bounded size.

Every diagram, whether it comes from the CLI, the API or the modeller, enters through `load_xml`.
"""

from __future__ import annotations

import re

from lxml import etree

from engine.domain.errors import DeployRejected, Diagnostic, TooLarge
from engine.domain.text import Text

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def _decoded_probe(data: bytes) -> bytes:
    """The first bytes as ASCII-compatible text, whatever the encoding, to look for DTD tricks."""
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) > 1 and head[1:2] == b"\x00"):
        for codec in ("utf-16",):
            try:
                return data.decode(codec, errors="ignore").encode("ascii", errors="ignore")
            except (UnicodeDecodeError, LookupError):
                pass
    return data


_DECLARATION = re.compile(r"""^(\ufeff?\s*<\?xml[^>]*?encoding\s*=\s*)(["'])([^"']*)\2""")
_NAMESPACE_WITH_SPACE = re.compile(r"""(\sxmlns(?::[\w.\-]+)?\s*=\s*)(["'])([^"'<>]*\s[^"'<>]*)\2""")


def _repaired(data: bytes) -> tuple[bytes, list[str]] | None:
    """What bpmn-js (a browser) opens but libxml2 refuses, read as the browser reads it (issue 15, the last MIWG
    vendor exports): bytes that do not fit the declared encoding (read as UTF-8 if they are, else as Windows-1252),
    an unknown encoding name, and namespace URIs with spaces (the spaces written as %20). None when nothing here
    helps; else the document as UTF-8 and what was done, in Swedish, for the check's warnings."""
    declared_match = _DECLARATION.match(data[:200].decode("ascii", errors="replace"))
    declared = declared_match.group(3) if declared_match else None
    done: list[str] = []
    text: str | None = None
    if declared:
        try:
            text = data.decode(declared)
        except (UnicodeDecodeError, LookupError):
            text = None
    if text is None:
        for codec in ("utf-8", "cp1252", "latin-1"):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                continue
            if declared:
                done.append(
                    Text(
                        "Filen anger kodningen %(declared)s men är skriven som %(codec)s; läst som %(codec2)s",
                        declared=declared,
                        codec=codec.upper(),
                        codec2=codec,
                    )
                )
            break
    if text is None:
        return None
    text = text.lstrip("\ufeff")
    if declared:
        text = _DECLARATION.sub(lambda m: f"{m.group(1)}{m.group(2)}UTF-8{m.group(2)}", text, count=1)

    def quote(m: re.Match[str]) -> str:
        done.append(Text("Namnrymden %(group)r innehåller mellanslag; läst med %%20", group=m.group(3)))
        quoted = re.sub(r"\s", "%20", m.group(3))
        return f"{m.group(1)}{m.group(2)}{quoted}{m.group(2)}"

    text = _NAMESPACE_WITH_SPACE.sub(quote, text)
    if not done and not (declared is None and text):
        return None
    return text.encode("utf-8"), done


def load_xml(data: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES, repairs: list[str] | None = None) -> etree._Element:
    """Parse XML bytes into an element tree, or raise DeployRejected / TooLarge with a readable reason. A file that
    libxml2 refuses but a browser opens (`_repaired`) is read as the browser reads it; what was repaired is added
    to `repairs` when given."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise TooLarge(
            Text("Filen är %(count)s byte; högst %(max_bytes)s byte tas emot", count=len(data), max_bytes=max_bytes)
        )
    if not data.strip():
        raise DeployRejected([Diagnostic(None, "error", "Filen är tom")])
    probe = _decoded_probe(data)
    if _ENTITY_DECL.search(probe) or _DOCTYPE.search(probe):
        raise DeployRejected([Diagnostic(None, "error", "XML med DOCTYPE eller ENTITY-deklarationer tas inte emot")])
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        # Files saved as ISO-8859-1 / Windows-1252 without an XML declaration, wrongly declared encodings,
        # namespace URIs with spaces: once more as a browser would read them.
        fixed = _repaired(data)
        if fixed is None:
            raise DeployRejected([Diagnostic(None, "error", f"Ogiltig XML: {exc}")]) from exc
        try:
            root = etree.fromstring(fixed[0], parser=_parser())
        except etree.XMLSyntaxError:
            raise DeployRejected([Diagnostic(None, "error", f"Ogiltig XML: {exc}")]) from exc
        if repairs is not None:
            repairs.extend(fixed[1])
    if root is None:
        raise DeployRejected([Diagnostic(None, "error", "Ogiltig XML: inget rotelement")])
    return root


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
