"""llama.cpp's CPU kernels, chosen at run time when the build ships them as loadable modules.

A portable build (``GGML_BACKEND_DL`` with ``GGML_CPU_ALL_VARIANTS``, what ``scripts/bootstrap.sh``
builds) puts one CPU backend per x86-64 feature level beside the library, as ``libggml-cpu-<variant>.so``;
ggml scores each against this CPU and loads the best one it can run. A native build links its one CPU
backend in, and then there is nothing to load. Either way the chosen kernels are known afterwards.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_VARIANT_FILE = re.compile(r"libggml-cpu-([A-Za-z0-9_.]+)\.so")
_LIBRARY_FILE = re.compile(r"(/\S+/(libggml\.so)(?:\.\d+)*)$")


@dataclass(frozen=True, slots=True)
class CpuKernels:
    """Which CPU backend llama.cpp runs on."""

    portable: bool  # the build chooses its kernels at run time
    variant: str  # e.g. "zen4", "haswell", "x64"; "native" for a build made for one CPU

    def describe(self) -> str:
        kind = "chosen at run time" if self.portable else "built for the compiling CPU"
        return f"llama.cpp CPU kernels: {self.variant} ({kind})"


def library_dir(llama_cpp_module: Any) -> Path:
    """Where llama-cpp-python keeps its shared libraries."""
    return Path(llama_cpp_module.__file__).parent / "lib"


def load_cpu_backends(llama_cpp_module: Any) -> CpuKernels:
    """Load the best CPU backend of a portable build (a no-op for a native one); call before loading a model.

    ggml's registry loads each module once, so calling this again in the same process changes nothing.
    """
    lib_dir = library_dir(llama_cpp_module)
    variants = sorted(lib_dir.glob("libggml-cpu-*.so"))
    if variants:
        # The registry lives in the libggml that libllama loaded (by its soname, e.g. libggml.so.0). The
        # wheel holds copies, not symlinks, so opening "libggml.so" would load a second, separate registry.
        ggml = ctypes.CDLL(str(mapped_library("libggml.so") or lib_dir / "libggml.so"))
        ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        ggml.ggml_backend_load_all_from_path.restype = None
        ggml.ggml_backend_load_all_from_path(str(lib_dir).encode())
    if not variants:
        return CpuKernels(portable=False, variant="native")
    variant = loaded_variant()
    if variant is None:
        names = ", ".join(path.name for path in variants)
        raise RuntimeError(f"none of llama.cpp's CPU backends in {lib_dir} runs on this CPU ({names})")
    return CpuKernels(portable=True, variant=variant)


def mapped_library(library: str) -> Path | None:
    """The file this process has mapped for ``library`` (any soname version of it), if any."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        match = _LIBRARY_FILE.search(line)
        if match and match.group(2) == library:
            return Path(match.group(1))
    return None


def loaded_variant() -> str | None:
    """The CPU backend module this process has mapped, read from its own memory map."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        match = _VARIANT_FILE.search(line)
        if match:
            return match.group(1)
    return None
