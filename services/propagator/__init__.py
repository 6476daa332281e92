"""The propagator: renders decisions for its member clusters and makes them so."""

from services.propagator._service import PropagatorSettings, run_propagator

__all__ = ["PropagatorSettings", "run_propagator"]
