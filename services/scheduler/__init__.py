"""The scheduler: host state → one placement decision per federated object, and host status."""

from services.scheduler._service import SchedulerSettings, run_scheduler

__all__ = ["SchedulerSettings", "run_scheduler"]
