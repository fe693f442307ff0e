"""OpenTelemetry traces for Citadel's processes, following the GenAI semantic conventions.

``Tracing`` (provider.py) turns the ``tracing`` settings into a tracer provider in an app's lifespan;
``RequestTracer`` (tracer.py) is what request code calls, free when tracing is off; ``ServerSpans``
(asgi.py) is the ASGI middleware that opens each request's server span from the caller's ``traceparent``.
"""

from citadel.tracing.asgi import ServerSpans
from citadel.tracing.provider import Tracing, traces_url
from citadel.tracing.tracer import Attributes, RequestTracer

__all__ = ["Attributes", "RequestTracer", "ServerSpans", "Tracing", "traces_url"]
