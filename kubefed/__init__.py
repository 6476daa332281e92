"""The ``kubefed`` command: runs each service, the simulator, the all-in-one control plane and the demo."""
