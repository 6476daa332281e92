"""Whether a newer status report of the same cluster superseded an outcome.

A propagator publishes one cluster's outcomes in batches on ``kubefed.status.<cluster>``, so the
status stream's sequence orders one cluster's reports as they were made. The consumer does not hand
them over in that order: a report whose handling failed (a host write that failed, a scheduler replica
killed mid-way, an ack lost in a NATS failover) is redelivered later, after newer reports were written,
and two scheduler replicas handle one cluster's reports side by side. A failure applied after the
newer success of the same object leaves a status nobody corrects: the propagator retries failures,
not successes (the chaos soak found an object left ``UpdateFailed`` on a member that held it).

So before the status writer writes a failure outcome it asks :meth:`ReportOrder.superseded` whether a
newer report of that cluster names the object; if one does, that newer outcome decides and the older
one is dropped. The writer asks after it read the host object and before it writes it: a newer report
written by another replica before that read is in the stream already and found; one written after it
either makes our write conflict (and the writer starts over) or is merged over ours.

The reports newer than the outcome's are read once per replica with ``next_by_subj`` gets (the
reports this replica is handed are noted as they arrive); once a replica has caught up, a check costs
one get that finds nothing. What is kept is, per (subject, object), the highest sequence of a report
that names it: per subject a dict from the object's key to that sequence, the key one shared copy per
object for all subjects (each decoded report carries its own copy of every key, and a fleet of N
members reports every object N times). A successful outcome is written without the check: one
that is stale over a newer (temporary) failure is corrected when the propagator retries and reports
the failure again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from shared import subjects
from shared.bus import Bus
from shared.messages import ObjectKey, StatusReport, decode

__all__ = ["ReportOrder"]


class ReportOrder:
    """What this replica knows of the order of each cluster's status reports."""

    def __init__(self, bus: Bus, stream: str = subjects.STREAM_STATUS) -> None:
        self._bus = bus
        self._stream = stream
        self._newest: dict[str, dict[ObjectKey, int]] = {}  # subject -> object -> newest sequence
        self._keys: dict[ObjectKey, ObjectKey] = {}  # one shared copy of each object's key
        self._read: dict[str, tuple[int, int]] = {}  # subject -> (a, b]: every report in it is noted
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def note(self, subject: str, seq: int, report: StatusReport) -> None:
        """Remember the objects a report at stream sequence ``seq`` names."""
        if seq <= 0:
            return
        newest = self._newest.get(subject)
        if newest is None:
            newest = self._newest[subject] = {}
        for outcome in report.outcomes:
            key = self._keys.setdefault(outcome.key, outcome.key)
            if newest.get(key, 0) < seq:
                newest[key] = seq

    async def superseded(self, subject: str, key: ObjectKey, seq: int) -> bool:
        """Whether a report after ``seq`` on ``subject`` names ``key``. Raises BusError."""
        if seq <= 0:
            return False  # not from the stream (a test, a replay): nothing to compare with
        if self._seq(subject, key) > seq:
            return True
        async with self._locks[subject]:
            a, b = self._read.get(subject, (seq, seq))
            if b < seq:  # what was read before ends before this report: start at it
                a, b = seq, seq
            if a > seq:  # older than what was read: read (seq, a] too
                await self._read_from(subject, seq + 1, through=a)
                a = seq
            # then everything after what was read; once caught up this costs one small "not found"
            b = await self._read_from(subject, b + 1)
            self._read[subject] = (a, b)
        return self._seq(subject, key) > seq

    def _seq(self, subject: str, key: ObjectKey) -> int:
        return self._newest.get(subject, {}).get(key, 0)

    async def _read_from(self, subject: str, first: int, *, through: int | None = None) -> int:
        """Note every report on ``subject`` from sequence ``first`` (to ``through``, else to the end);
        returns the sequence up to which every report is noted."""
        n = first
        while through is None or n <= through:
            found = await self._bus.get_next(self._stream, subject, n)
            if found is None or found[1] < n:
                break  # nothing more on this subject
            data, seq = found
            self._note_raw(subject, seq, data)
            n = seq + 1
        return n - 1 if through is None else max(n - 1, through)

    def _note_raw(self, subject: str, seq: int, data: bytes) -> None:
        try:
            report = decode(data)
        except Exception:  # a report we cannot read names nothing we could compare
            return
        if isinstance(report, StatusReport):
            self.note(subject, seq, report)
