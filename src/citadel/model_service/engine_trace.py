"""A generation's spans: the GenAI inference span and the engine's queue, prefill and decode phases.

The engine thread only notes times in the request's :class:`Timeline`; the spans are recorded here, on the
event loop, once the generation has ended, under the request's server span (itself a child of the
gateway's, through ``traceparent``).
"""

from __future__ import annotations

from opentelemetry.util.types import AttributeValue

from citadel.model_service.sequence import Timeline
from citadel.tracing import Attributes, RequestTracer, semconv
from citadel.tracing.tracer import Context


def request_attributes(
    operation: str, request_model: str | None, served_model: str, *, max_tokens: int, stream: bool
) -> dict[str, AttributeValue]:
    """What the request asked for, in the GenAI conventions' names."""
    return {
        semconv.GEN_AI_OPERATION_NAME: operation,
        semconv.GEN_AI_PROVIDER_NAME: semconv.PROVIDER_CITADEL,
        semconv.GEN_AI_REQUEST_MODEL: request_model or served_model,
        semconv.GEN_AI_REQUEST_MAX_TOKENS: max_tokens,
        semconv.GEN_AI_REQUEST_STREAM: stream,
    }


def record_generation(
    tracer: RequestTracer,
    requested: Attributes,
    *,
    parent: Context | None,
    timeline: Timeline,
    ended: float,
    served_model: str,
    usage: tuple[int, int],
    finish_reason: str,
    error: str | None,
) -> None:
    """The inference span from submission to the last token, with one child span per engine phase."""
    input_tokens, output_tokens = usage
    attributes: dict[str, AttributeValue] = {
        **requested,
        semconv.GEN_AI_RESPONSE_MODEL: served_model,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: [finish_reason],
    }
    if error is not None:
        attributes[semconv.ERROR_TYPE] = error
    operation = str(requested[semconv.GEN_AI_OPERATION_NAME])
    name = semconv.span_name(operation, str(requested[semconv.GEN_AI_REQUEST_MODEL]))
    context = tracer.record(name, timeline.submitted, ended, attributes, parent=parent, error=error)
    admitted = timeline.admitted
    tracer.record("engine.queue", timeline.submitted, admitted or ended, parent=context)
    if admitted is None:
        return  # never reached a slot (cancelled or refused while waiting)
    first_token = timeline.first_token or ended
    prefill = {
        semconv.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
        semconv.CITADEL_PREFIX_REUSED_TOKENS: timeline.reused_prefix,
    }
    tracer.record("engine.prefill", admitted, first_token, prefill, parent=context)
    if timeline.first_token is not None:
        decode = {semconv.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens}
        tracer.record("engine.decode", first_token, ended, decode, parent=context)
