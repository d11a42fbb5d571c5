# Shared set-up for scripts/run and scripts/test: a project venv with asicrc installed editable.
# Reinstalls only when the build inputs (C sources, build script, packaging) changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ASICRC_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
# Debian splits venv/ensurepip and the C headers (needed to build the C core) out of python3.
python_ready() {
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 &&
        python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'
}
if [ ! -x "$VENV/bin/python" ] && ! python_ready; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "asicrc: installing python3-venv and python3-dev from Debian" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-dev >/dev/null
    else
        echo "asicrc: python3 needs venv and its C headers: sudo apt-get install python3-venv python3-dev" >&2
        exit 1
    fi
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "asicrc: creating virtual environment in $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip "setuptools>=77" wheel "cffi>=1.16" >/dev/null 2>&1 ||
        "$VENV/bin/python" -m pip install --upgrade pip "setuptools>=77" wheel "cffi>=1.16"
fi
STAMP_INPUT="$(cat "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT"/native/build_native.py "$ROOT"/native/src/*.[ch] 2>/dev/null | sha256sum | cut -c1-16)-$EXTRAS"
STAMP="$VENV/.asicrc-installed"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$STAMP_INPUT" ] || ! ls "$ROOT"/native/_core*.so >/dev/null 2>&1; then
    echo "asicrc: installing asicrc${EXTRAS:+[$EXTRAS]} (builds the C core)" >&2
    LOG="$VENV/asicrc-install.log"
    # pip's build chatter goes to a log; it is shown only when the install fails.
    if ! { "$VENV/bin/python" -m pip install -q --upgrade "setuptools>=77" wheel "cffi>=1.16" &&
           (cd "$ROOT" && "$VENV/bin/python" -m pip install -q --no-build-isolation -e ".${EXTRAS:+[$EXTRAS]}"); } >"$LOG" 2>&1; then
        cat "$LOG" >&2
        echo "asicrc: installation failed (log above, also in $LOG)" >&2
        exit 1
    fi
    echo "$STAMP_INPUT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
