"""``citadel render systemd``: the units pass ``systemd-analyze verify`` and carry the config's values."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from citadel.config import load_settings
from citadel.ops.render.assets import write_files
from citadel.ops.render.systemd import SystemdLayout, render_systemd
from tests.helpers import SMOLLM2_NAME, free_port, smollm2_model, write_config
from tests.ops.stack import OpsStack
from tests.ops.tools import hxp_settings, run, tool

CITADEL = Path(sys.executable).parent / "citadel"


def _verify(out: Path, units: list[str]) -> subprocess.CompletedProcess[str]:
    # The output directory first on the unit path, so instances find the template and their drop-ins.
    environment = {**os.environ, "SYSTEMD_UNIT_PATH": f"{out}:"}
    return run([tool("systemd-analyze"), "verify", *units], env=environment, cwd=out)


def _complaints_about_us(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if "citadel" in line]


def _render(tmp_path: Path, config: Path, executable: Path = CITADEL) -> Path:
    out = tmp_path / "units"
    layout = SystemdLayout(config_path=config, executable=executable, env_dir=out / "env")
    write_files(render_systemd(load_settings(config), layout), out)
    return out


def test_hxp_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    _settings, config = hxp_settings(tmp_path)
    out = _render(tmp_path, config)
    instances = [f"citadel-llm@{name}.service" for name in ("mixtral-8x7b", "phi-3-mini")]
    timer = ["citadel-llm-health.timer", "citadel-llm-health.service"]
    timer += ["citadel-llm-backup.timer", "citadel-llm-backup.service"]
    result = _verify(out, ["citadel-llm.target", "citadel-llm-gateway.service", *instances, *timer])
    assert result.returncode == 0, result.stderr
    assert _complaints_about_us(result) == []


def test_verify_reports_a_unit_it_cannot_run(tmp_path: Path) -> None:
    """The check above can fail: a missing executable is reported against our unit."""
    _settings, config = hxp_settings(tmp_path)
    out = _render(tmp_path, config, executable=tmp_path / "no-such-citadel")
    complaints = _complaints_about_us(_verify(out, ["citadel-llm@phi-3-mini.service"]))
    assert any("no-such-citadel" in line for line in complaints), complaints


def test_limits_and_timeouts_come_from_each_model(tmp_path: Path) -> None:
    _settings, config = hxp_settings(
        tmp_path,
        **{"hermes-2": {"memory_limit": "1536M", "cpu_quota": 150, "startup_timeout_s": 42}},
    )
    out = _render(tmp_path, config)
    limits = (out / "citadel-llm@hermes-2.service.d/50-limits.conf").read_text(encoding="utf-8")
    assert "MemoryMax=1536M" in limits
    assert "CPUQuota=150%" in limits
    assert "TimeoutStartSec=42" in limits
    mixtral = (out / "citadel-llm@mixtral-8x7b.service.d/50-limits.conf").read_text(encoding="utf-8")
    assert "MemoryMax=90G" in mixtral
    assert "CPUQuota=800%" in mixtral
    result = _verify(out, ["citadel-llm@hermes-2.service"])
    assert _complaints_about_us(result) == []


def test_target_wants_every_local_model_and_the_gateway_but_no_remote_one(tmp_path: Path) -> None:
    remote = {"name": "far-away", "backend": "remote", "source": "-", "url": "http://127.0.0.1:9/v1"}
    gateway_limits = {"memory_limit": "3G", "cpu_quota": 150}
    config = write_config(
        tmp_path, {"gateway": gateway_limits, "models": [smollm2_model(free_port()), remote]}
    )
    out = _render(tmp_path, config)
    target = (out / "citadel-llm.target").read_text(encoding="utf-8")
    assert re.findall(r"^Wants=(citadel\S+)$", target, re.MULTILINE) == [
        f"citadel-llm@{SMOLLM2_NAME}.service",
        "citadel-llm-gateway.service",
    ]
    assert sorted(path.name for path in (out / "env").iterdir()) == ["gateway.env", f"{SMOLLM2_NAME}.env"]
    gateway = (out / "citadel-llm-gateway.service").read_text(encoding="utf-8")
    assert f"After=network-online.target citadel-llm@{SMOLLM2_NAME}.service\n" in gateway
    assert "MemoryMax=3G\n" in gateway  # the config's, not the seed's 2G / 200 %
    assert "CPUQuota=150%\n" in gateway


def test_a_local_replica_is_an_instance_of_its_own(tmp_path: Path) -> None:
    own, second = free_port(), free_port()
    model = smollm2_model(own, replicas=[{"port": own}, {"port": second}], memory_limit="768M")
    config = write_config(tmp_path, {"models": [model]})
    out = _render(tmp_path, config)
    replica = f"{SMOLLM2_NAME}:{second}"
    target = (out / "citadel-llm.target").read_text(encoding="utf-8")
    assert re.findall(r"^Wants=(citadel-llm@\S+)$", target, re.MULTILINE) == [
        f"citadel-llm@{SMOLLM2_NAME}.service",
        f"citadel-llm@{replica}.service",
    ]
    limits = (out / f"citadel-llm@{replica}.service.d/50-limits.conf").read_text(encoding="utf-8")
    assert "MemoryMax=768M" in limits
    assert (out / "env" / f"{replica}.env").exists()
    # systemd-analyze reads "FILE:NAME" as "verify FILE under the name NAME", so an instance whose name has a
    # colon is given that way (systemd itself takes the colon in unit names).
    result = _verify(out, [f"{out}/citadel-llm@.service:citadel-llm@{replica}.service"])
    assert result.returncode == 0, result.stderr
    assert _complaints_about_us(result) == []
    unit = (out / "citadel-llm@.service").read_text(encoding="utf-8")
    environment = {"CITADEL_CONFIG": str(config)}
    pre_start = run(_unit_command(unit, "ExecStartPre", replica, environment))
    assert pre_start.returncode == 0, pre_start.stdout + pre_start.stderr
    assert f"{replica}" in pre_start.stdout  # the replica's own port was checked


def _unit_command(unit: str, key: str, instance: str, environment: dict[str, str]) -> list[str]:
    """A unit's ``Exec*=`` line as systemd would run it: ``%i`` and ``${VAR}`` substituted."""
    [line] = [line for line in unit.splitlines() if line.startswith(f"{key}=")]
    command = line.split("=", 1)[1].replace("%i", instance)
    return [
        re.sub(r"\$\{(\w+)\}", lambda match: environment[match.group(1)], word)
        for word in shlex.split(command)
    ]


def test_pre_start_and_start_commands_run_citadel_with_the_env_file(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, {"gateway": {"port": free_port()}, "models": [smollm2_model(free_port())]}
    )
    out = _render(tmp_path, config)
    env_file = (out / "env" / f"{SMOLLM2_NAME}.env").read_text(encoding="utf-8")
    environment = dict(
        line.split("=", 1) for line in env_file.splitlines() if line and not line.startswith("#")
    )
    assert environment == {"CITADEL_CONFIG": str(config)}
    unit = (out / "citadel-llm@.service").read_text(encoding="utf-8")
    assert f"EnvironmentFile={out / 'env'}/%i.env" in unit
    assert "Restart=on-failure" in unit
    assert "RestartPreventExitStatus=3" in unit  # a failed self-test is not restarted
    assert "StartLimitBurst=5" in unit
    assert "StartLimitIntervalSec=120" in unit

    pre_start = run(_unit_command(unit, "ExecStartPre", SMOLLM2_NAME, environment))
    assert pre_start.returncode == 0, pre_start.stdout + pre_start.stderr
    assert "model files" in pre_start.stdout
    start = _unit_command(unit, "ExecStart", SMOLLM2_NAME, environment)
    assert start == [str(CITADEL), "serve-model", SMOLLM2_NAME, "--config", str(config)]


def test_the_health_timer_runs_citadel_health_every_five_minutes(ops_stack: OpsStack, tmp_path: Path) -> None:
    out = _render(tmp_path, ops_stack.config)
    timer = (out / "citadel-llm-health.timer").read_text(encoding="utf-8")
    assert "OnCalendar=*:0/5\n" in timer
    unit = (out / "citadel-llm-health.service").read_text(encoding="utf-8")
    assert f"EnvironmentFile={out / 'env'}/gateway.env" in unit
    command = _unit_command(unit, "ExecStart", "", {"CITADEL_CONFIG": str(ops_stack.config)})
    assert command == [str(CITADEL), "health", "--config", str(ops_stack.config)]
    health = run(command)
    assert health.returncode == 0, health.stdout + health.stderr
    assert "Overall: HEALTHY" in health.stdout
