"""What the suites share, instead of importing each other's conftests.

- :mod:`tests.support.plane`: ``ControlPlane`` (a fleet, NATS and the services in-process), ``eventually``
  and the status helpers, ``plane_factory`` / ``MakePlane``, ``start_dns``, ``federate_namespace``.
- :mod:`tests.support.fixtures`: the ``control_plane``, ``running`` and ``make_plane`` fixtures.
- :mod:`tests.support.manifests`: deploy/kustomize rendered with the pinned kubectl.
- :mod:`tests.support.bus_plane`: planes whose services connect as least-privilege NATS users.
- :mod:`tests.support.real`: the real-cluster tier's precondition (`require_programs`).
- :mod:`tests.support.waiting`: ``eventually``, polling for the positive sign a test waits for.
- :mod:`tests.support.tools`: external programs the shipping tiers need, found or installed.
"""
