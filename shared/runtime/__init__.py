"""Running a service: settings, health/metrics endpoints, signals, graceful shutdown, and the controller
runtime (:class:`Manager`, :class:`Controller`, :class:`Result`, sources) every service is wired with."""

from shared.runtime._coalesce import Coalesced
from shared.runtime._config import read_kubefed_config
from shared.runtime._controller import Controller, Result
from shared.runtime._health import HealthServer, Readiness
from shared.runtime._host import HostBinding, read_host_identity
from shared.runtime._informer import Informer, InformerHandler
from shared.runtime._manager import Manager, Runnable, every
from shared.runtime._run import ServiceContext, connect_host, run_service
from shared.runtime._settings import CommonSettings
from shared.runtime._tasks import guarded_task, stop_tasks
from shared.runtime._workqueue import WorkQueue

__all__ = [
    "Coalesced",
    "CommonSettings",
    "Controller",
    "HealthServer",
    "HostBinding",
    "Informer",
    "InformerHandler",
    "Manager",
    "Readiness",
    "Result",
    "Runnable",
    "ServiceContext",
    "WorkQueue",
    "connect_host",
    "every",
    "guarded_task",
    "read_host_identity",
    "read_kubefed_config",
    "run_service",
    "stop_tasks",
]
