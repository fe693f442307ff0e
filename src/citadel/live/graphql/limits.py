"""A rejected GraphQL document (too deep, too long, introspection when off, a syntax error) is a 400 with
its GraphQL errors; every operation is counted in ``citadel_graphql_operations_total``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension


class OperationOutcome(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        execution = self.execution_context
        context = execution.context
        rejected = bool(execution.pre_execution_errors)
        result = execution.result
        failed = rejected or bool(result is not None and getattr(result, "errors", None))
        kind = "unknown"  # a document that did not parse has no operation type
        with contextlib.suppress(RuntimeError, AttributeError, ValueError):
            kind = execution.operation_type.value
        live = getattr(context, "live", None)
        if live is not None:
            live.metrics.graphql.labels(kind, "error" if failed else "success").inc()
        response = getattr(context, "response", None)
        if rejected and response is not None and hasattr(response, "status_code"):
            response.status_code = 400
