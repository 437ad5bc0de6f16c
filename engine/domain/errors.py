"""Errors the service layer raises. The web layer maps each kind to one HTTP status: bad input is never a 500."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a diagram, named by the element it concerns (None: the whole document)."""

    element_id: str | None
    severity: str  # "error" | "warning"
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"element_id": self.element_id, "severity": self.severity, "message": self.message}


class SamflodeError(Exception):
    """Base of every expected error; `code` is the machine-readable name, `details` goes to the client as is."""

    code = "error"
    status = 400

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(SamflodeError):
    code = "bad_request"
    status = 400


class NotAuthenticated(SamflodeError):
    code = "unauthenticated"
    status = 401


class Forbidden(SamflodeError):
    code = "forbidden"
    status = 403


class NotFound(SamflodeError):
    code = "not_found"
    status = 404


class Conflict(SamflodeError):
    code = "conflict"
    status = 409


class TooLarge(SamflodeError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(SamflodeError):
    code = "unsupported_media_type"
    status = 415


class ValidationFailed(SamflodeError):
    code = "validation_failed"
    status = 422


class DeployRejected(ValidationFailed):
    """A diagram that cannot be deployed, with every finding named by element."""

    code = "deploy_rejected"

    def __init__(self, diagnostics: list[Diagnostic], message: str = "Diagrammet kan inte driftsättas"):
        self.diagnostics = list(diagnostics)
        super().__init__(message, {"diagnostics": [d.as_dict() for d in self.diagnostics]})


class InvalidData(ValidationFailed):
    """Data refused at the data boundary (engine/domain/boundary.py): not JSON, NaN, too deep or large, a reserved
    key. A 400 whose details name the field by its JSON path ({"fields": {"data.a[2]": [reason]}})."""

    code = "invalid_data"
    status = 400
