"""Anthropic's Messages API at the gateway (``/v1/messages``), translated to chat completions and back."""
