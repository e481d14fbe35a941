"""Only the compiled part of tinct; everything else is declared in pyproject.toml.

tinct.color._rgb8 is the inference path's 8-bit color conversion, compiled at install time so a
`tinct colorize` process pays no JIT start-up (see the comment at the top of its source).
"""

from setuptools import Extension, setup

setup(
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
