"""kubefedctl: KubeFed's command-line tool for this control plane (also the kubectl plugin
``kubectl-kubefed``).

The public surface is the click group :data:`cli` and the console-script entry point :func:`main`;
everything else lives in private modules, one verb or concern each (``_join``, ``_enable``,
``_federate``, ``_orphaning``, ``_status``, ``_resolve``, ``_output``, ``_crds`` ...).
"""

from kubefedctl.cli import cli, main

__all__ = ["cli", "main"]
