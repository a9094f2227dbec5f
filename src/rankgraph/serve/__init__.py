"""The retrieval service (`rankgraph serve`): FastAPI over an embeddings artifact.

`ServeConfig`, `ServiceRegistry` and `load_state` need no web framework; `create_app`
(in `rankgraph.serve.app`) needs the `serve` extra (fastapi, uvicorn) and is imported
lazily so a bare install can still import this package.
"""

from rankgraph.errors import RankGraphError
from rankgraph.serve.batching import MicroBatcher
from rankgraph.serve.config import ServeConfig
from rankgraph.serve.metrics import Metrics
from rankgraph.serve.state import IdMap, SeenItems, ServiceRegistry, ServiceState, load_state

__all__ = [
    "IdMap",
    "Metrics",
    "MicroBatcher",
    "SeenItems",
    "ServeConfig",
    "ServiceRegistry",
    "ServiceState",
    "create_app",
    "load_state",
    "require_fastapi",
]


def require_fastapi() -> None:
    """Refuse clearly when the `serve` extra is not installed."""
    from rankgraph.capabilities import WITH_FASTAPI

    if not WITH_FASTAPI:
        raise RankGraphError("the service needs the 'serve' extra: pip install 'rankgraph[serve]' (fastapi, uvicorn)")


def __getattr__(name: str):
    if name == "create_app":
        require_fastapi()
        from rankgraph.serve.app import create_app

        return create_app
    raise AttributeError(name)
