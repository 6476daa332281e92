"""The benchmark suite (``python -m bench --mode quick|full``; ``make bench-quick`` / ``make bench``).

Not part of the test run. Every figure comes from simulated clusters (``python -m sim`` in its own
process) over real HTTPS, a real nats-server and the services as separate ``kubefed`` processes;
arrival times come from the benchmark's own watches on the members and the host. See docs/performance.md.
``bench/sim_bench.py`` is the simulator's own benchmark and is separate.
"""
