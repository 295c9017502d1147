"""The fake alert services (tests.alerting) for the doctor's channel probes."""

from tests.alerting.conftest import _servers, services

__all__ = ["_servers", "services"]
