"""Import kubernetes-asyncio without its generated API and model modules (about 35 MB per process).

``kubernetes_asyncio``, ``kubernetes_asyncio.client`` and ``kubernetes_asyncio.client.models`` import
every generated ``*Api`` class and every ``V1*`` model in their ``__init__``; we use only ``ApiClient``,
``Configuration``, the REST client and the kubeconfig loaders (see :mod:`shared.k8s._client`). Before the
first import of the library, :func:`install` registers these three packages as modules whose
``__init__`` has not run: an attribute that names a submodule (``client.api_client``, ``config``)
imports just that submodule, a re-exported class we know (``ApiClient``) comes from its own module,
and any other attribute (a generated ``CoreV1Api``, a ``V1Pod`` model) runs the package's real
``__init__`` once, so code that wants the whole library still gets it, only later. Nothing changes
when the library was imported before :func:`install`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["install"]

_PACKAGES = ("kubernetes_asyncio", "kubernetes_asyncio.client", "kubernetes_asyncio.client.models")

# Names the packages re-export from a module of their own (so no full load is needed for them).
_REEXPORTS: dict[str, dict[str, str]] = {
    "kubernetes_asyncio.client": {
        "ApiClient": "api_client",
        "Configuration": "configuration",
        "ApiException": "exceptions",
        "ApiValueError": "exceptions",
        "ApiTypeError": "exceptions",
        "ApiKeyError": "exceptions",
        "OpenApiException": "exceptions",
    },
}


def _lazy_getattr(module: types.ModuleType) -> Any:
    name = module.__name__
    reexports = _REEXPORTS.get(name, {})

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in reexports:
            return getattr(importlib.import_module(f"{name}.{reexports[attr]}"), attr)
        if importlib.util.find_spec(f"{name}.{attr}") is not None:
            return importlib.import_module(f"{name}.{attr}")
        _load_fully(module)
        return getattr(module, attr)

    return __getattr__


def _load_fully(module: types.ModuleType) -> None:
    """Run the package's real ``__init__`` (once): every generated API or model becomes available."""
    module.__dict__.pop("__getattr__", None)
    spec = module.__spec__
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(module)


def install() -> None:
    """Register the lazy packages unless kubernetes-asyncio is imported already (idempotent)."""
    for name in _PACKAGES:
        if name in sys.modules:
            return
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:  # pragma: no cover - a dependency of the project
            return
        module = importlib.util.module_from_spec(spec)
        module.__dict__["__getattr__"] = _lazy_getattr(module)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


install()
