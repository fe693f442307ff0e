"""OpenAI's Responses API at the gateway (``/v1/responses``), translated to chat completions and back."""
