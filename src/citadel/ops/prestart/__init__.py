"""The pre-start checks of ``citadel check [NAME]``, run by hand and as each model unit's ``ExecStartPre``:
:mod:`~citadel.ops.prestart.checks` (config, ports, cores, model files) and
:mod:`~citadel.ops.prestart.engine_self_test` (the engine decoding a real batch in a child process)."""
