"""Only the compiled part of tinct; everything else is declared in pyproject.toml.

tinct.color._rgb8 is the inference path's 8-bit color conversion, compiled at install time so a
`tinct colorize` process pays no JIT start-up (see the comment at the top of its source).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NO_COMPILER = (
    "tinct: building tinct.color._rgb8 (the inference path's color kernels, src/tinct/color/_rgb8.c) needs a "
    "working C compiler, and none worked ({reason}). Install one and retry: Debian/Ubuntu `apt-get install gcc`, "
    "Fedora `dnf install gcc`, macOS `xcode-select --install`, Windows: Visual Studio Build Tools (C++). Or point "
    "CC at a compiler."
)


class BuildExt(build_ext):
    """build_ext that says what to do, in one paragraph, when there is no C compiler."""

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as err:  # CompileError, LinkError, a missing `cc` (DistutilsExecError), ...
            if type(err).__name__ not in ("CompileError", "DistutilsExecError", "CCompilerError", "LinkError"):
                raise
            reason = " ".join(str(err).split()) or type(err).__name__
            raise SystemExit(NO_COMPILER.format(reason=reason)) from None


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "tinct.color._rgb8",
            ["src/tinct/color/_rgb8.c"],
            # -O3 vectorizes the row loops; it needs sqrtf to be an instruction (-fno-math-errno) and
            # selects between float results to be free of side effects (-fno-trapping-math). FMA
            # contraction, reciprocals and signed zeros as numba's kernels allow them (fastmath
            # contract, arcp, nsz); NaN and infinity keep their IEEE meaning (no -ffast-math).
            extra_compile_args=[
                "-O3", "-std=c11", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast",
                "-freciprocal-math", "-fno-signed-zeros",
            ],  # fmt: skip
        )
    ]
)
