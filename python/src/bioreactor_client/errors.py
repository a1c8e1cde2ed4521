"""Exceptions raised by bioreactor_client, one class per kind of failure a script can act on.

Every exception derives from :class:`BioreactorError`, which is a :class:`RuntimeError` so that
scripts written for the original client (which raised ``RuntimeError`` on a failed command) keep
working. Errors the node reports carry its catalogue ``code`` and are mapped to a subclass by
:data:`ERROR_CLASSES`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Type

__all__ = [
    "BioreactorError",
    "BioreactorConnectionError",
    "BioreactorTimeoutError",
    "BioreactorAPIError",
    "ValidationError",
    "UnauthorizedError",
    "ComponentUnavailableError",
    "SafetyInterlockError",
    "DeviceFaultError",
    "NodeBusyError",
    "CSVColumnsError",
    "ERROR_CLASSES",
    "api_error_from_response",
]


class BioreactorError(RuntimeError):
    """Base class of every error this library raises."""


class BioreactorConnectionError(BioreactorError, ConnectionError):
    """The node could not be reached (refused, reset, DNS failure) even after retrying.

    Also a built-in :class:`ConnectionError`, which is what the original client raised.
    """


class BioreactorTimeoutError(BioreactorConnectionError, TimeoutError):
    """The node accepted the connection but did not answer within the timeout."""


class BioreactorAPIError(BioreactorError):
    """The node answered with an error.

    Attributes:
        code: the node's error-catalogue code, e.g. ``"VALIDATION_FAILED"`` (``"HTTP_<status>"``
            when the reply carried no code, e.g. from a proxy).
        status: the HTTP status.
        message: the node's own message, which says how to fix the problem.
        component: the hardware component the request was about, if any.
        problems: the node's per-field problems (``[{"message": ..., "field": ...}]``), if any.
    """

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        component: Optional[str] = None,
        problems: Optional[List[Dict[str, Any]]] = None,
    ) -> None:
        self.code = code
        self.status = status
        self.message = message
        self.component = component
        self.problems: List[Dict[str, Any]] = list(problems or [])
        prefix = f"{component}: " if component else ""
        super().__init__(f"{prefix}{message} ({code}, HTTP {status})")

    def __reduce__(self) -> Any:
        return (type(self), (self.code, self.status, self.message, self.component, self.problems))


class ValidationError(BioreactorAPIError, ValueError):
    """A value is missing, of the wrong type or out of range (``VALIDATION_FAILED``).

    Also a :class:`ValueError`, so ``except ValueError`` catches it.
    """


class UnauthorizedError(BioreactorAPIError):
    """The node requires its service token (``UNAUTHORIZED``); set ``BIOREACTOR_API_TOKEN``."""


class ComponentUnavailableError(BioreactorAPIError):
    """The component is not fitted, disabled in the hardware file, or failing
    (``COMPONENT_NOT_FOUND`` from the v3 API, ``COMPONENT_UNAVAILABLE`` from v2)."""


class SafetyInterlockError(BioreactorAPIError):
    """A safety interlock refused the command (``SAFETY_INTERLOCK``): the over-temperature hold or the overflow guard."""


class DeviceFaultError(BioreactorAPIError):
    """The hardware did not answer or answered wrongly (``DEVICE_FAULT``)."""


class NodeBusyError(BioreactorAPIError):
    """The node already runs an experiment (``NODE_BUSY``)."""


class CSVColumnsError(BioreactorError, ValueError):
    """A row has keys that the CSV file's header lacks.

    Rewriting the header in place would break everything that follows the file as it grows
    (the live dashboard reads it by byte offset), and silently dropping the values loses data,
    so the row is refused. Write it to a new file, or include the key from the first row on.
    """

    def __init__(self, path: str, extra_keys: List[str], header: List[str]) -> None:
        self.path = path
        self.extra_keys = list(extra_keys)
        self.header = list(header)
        super().__init__(
            f"{path} has the columns {','.join(header)}; this row also has "
            f"{', '.join(repr(k) for k in extra_keys)}, which would be lost. Write rows with "
            f"these keys to a new file (write_data_to_csv(data, filename='other.csv')), or "
            f"include the keys (value None) from the first row on."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.extra_keys, self.header))


#: The node's error-catalogue codes mapped to the exception class raised for them; codes not
#: listed raise :class:`BioreactorAPIError` itself.
ERROR_CLASSES: Mapping[str, Type[BioreactorAPIError]] = {
    "VALIDATION_FAILED": ValidationError,
    "INVALID_JSON": ValidationError,
    "UNAUTHORIZED": UnauthorizedError,
    "COMPONENT_NOT_FOUND": ComponentUnavailableError,
    "COMPONENT_UNAVAILABLE": ComponentUnavailableError,
    "SAFETY_INTERLOCK": SafetyInterlockError,
    "DEVICE_FAULT": DeviceFaultError,
    "NODE_BUSY": NodeBusyError,
}


def api_error_from_response(
    status: int, body: Any, component: Optional[str] = None
) -> BioreactorAPIError:
    """Build the exception for an error reply of the node (its ``{code, message, problems}`` body)."""
    code = f"HTTP_{status}"
    message = f"the node answered HTTP {status}"
    problems: Optional[List[Dict[str, Any]]] = None
    if isinstance(body, dict):
        if isinstance(body.get("code"), str):
            code = body["code"]
        if isinstance(body.get("message"), str) and body["message"]:
            message = body["message"]
        elif isinstance(body.get("detail"), str):
            message = body["detail"]
        if isinstance(body.get("problems"), list):
            problems = [p for p in body["problems"] if isinstance(p, dict)]
    elif isinstance(body, str) and body.strip():
        message = f"the node answered HTTP {status}: {body.strip()[:300]}"
    if code == "UNAUTHORIZED" and "BIOREACTOR_API_TOKEN" not in message:
        message += " (set BIOREACTOR_API_TOKEN to the node's service token)"
    cls = ERROR_CLASSES.get(code, BioreactorAPIError)
    return cls(code, status, message, component=component, problems=problems)
