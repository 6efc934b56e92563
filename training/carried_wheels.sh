# Sourced by the scripts that run on a lent GPU machine (training/gpu_session.sh,
# benchmarks/profiles_gpu.sh), from the repository root. The device image has torch but not
# constriction, so the wheels carried in .whl/ go into a throwaway site folder that
# PYTHONPATH puts first, beside the repository itself. Needs PYTHON and a die function.
SITE=$(mktemp -d)
if ls .whl/*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "$SITE" .whl/*.whl || die "the carried wheels did not install"
fi
export PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
