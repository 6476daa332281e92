"""Publishing one watch's host changes; a change counts as seen only once JetStream stored it.

The watcher skips a change whose fingerprint (:func:`services.watcher._resources.change_fingerprint`)
equals the last one it published for that object, so that its own status writes are not published
again. That memory must never run ahead of the stream: were a fingerprint recorded when the message
was handed to the client, a publish that then failed (no ack, a dropped connection) would make the
replay of the same watch event look like a duplicate, and the change would be lost.

So each watch loop has its own :class:`ChangePublisher` (its own :class:`shared.bus.Publisher`, so a
failed ack is reported to the loop that sent it, never swallowed by another loop's flush), and
fingerprints move from *unconfirmed* to *confirmed* only in :meth:`ChangePublisher.confirm`, after
every ack arrived. A failed send or confirm drops the unconfirmed ones: the loop resumes its watch
from the last confirmed point and publishes those changes again (``Nats-Msg-Id`` stores a change
that did reach the stream only once). The checkpoint is saved only after :meth:`confirm` returned.
"""

from __future__ import annotations

from shared.bus import Bus, Publisher
from shared.messages import Message, ObjectKey

__all__ = ["ChangePublisher"]

DELETED = None  # the unconfirmed "fingerprint" of a deletion: the object is forgotten once confirmed


class ChangePublisher:
    """Publishes the changes of one watch and remembers what JetStream confirmed."""

    def __init__(self, bus: Bus, confirmed: dict[ObjectKey, str]) -> None:
        # ``confirmed`` may be shared between loops: keys name their resource, so they never collide
        self._publisher = Publisher(bus)
        self._confirmed = confirmed
        self._unconfirmed: dict[ObjectKey, str | None] = {}

    @property
    def unconfirmed(self) -> bool:
        """Whether changes were sent that JetStream has not confirmed yet."""
        return bool(self._unconfirmed)

    def seen(self, key: ObjectKey, fingerprint: str) -> bool:
        """Whether this fingerprint is the last one published for ``key`` (confirmed or in flight)."""
        if key in self._unconfirmed:
            return self._unconfirmed[key] == fingerprint
        return self._confirmed.get(key) == fingerprint

    async def send(
        self,
        subject: str,
        message: Message,
        *,
        msg_id: str,
        stream: str,
        key: ObjectKey | None = None,
        fingerprint: str | None = DELETED,
    ) -> None:
        """Publish; the change of ``key`` is unconfirmed until :meth:`confirm`. Raises BusError."""
        try:
            await self._publisher.send(subject, message, msg_id=msg_id, stream=stream)
        except BaseException:
            self.forget_unconfirmed()
            raise
        if key is not None:
            self._unconfirmed[key] = fingerprint

    async def confirm(self) -> None:
        """Wait for every ack; then what was sent counts as seen. Raises BusError (nothing counts)."""
        # only what was sent before the flush began counts: a change sent while it waits (the
        # quiet-time confirmer runs beside the watch) stays unconfirmed until the next confirm
        sent = dict(self._unconfirmed)
        try:
            await self._publisher.flush()
        except BaseException:
            self.forget_unconfirmed()
            raise
        for key, fingerprint in sent.items():
            if key not in self._unconfirmed or self._unconfirmed[key] != fingerprint:
                continue  # sent again meanwhile: confirmed with its newer send
            del self._unconfirmed[key]
            if fingerprint is DELETED:
                self._confirmed.pop(key, None)
            else:
                self._confirmed[key] = fingerprint

    def forget_unconfirmed(self) -> None:
        """A publish failed: the changes not yet confirmed are published again when they are replayed."""
        self._unconfirmed.clear()
