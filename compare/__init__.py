"""KubeFed v0.10.0 as the oracle: its own e2e suite against this control plane (``python -m compare e2e``)."""
