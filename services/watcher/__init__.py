"""The watcher: lists and watches the host cluster and publishes every change as a key on NATS."""

from services.watcher._service import WatcherSettings, run_watcher

__all__ = ["WatcherSettings", "run_watcher"]
