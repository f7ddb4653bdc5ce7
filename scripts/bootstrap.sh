# Sourced by scripts/run.sh and scripts/test.sh: make .venv with citywifi installed.
# Idempotent and quick when nothing changed (re-installs only when pyproject.toml is newer).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CITYWIFI_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-}"

if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        # Debian/Ubuntu system Python ships venv separately.
        as_root apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON" -m venv "$VENV"
    fi
fi
STAMP="$VENV/.citywifi-installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
    echo "installing citywifi${EXTRAS:+[$EXTRAS]} into $VENV ..." >&2
    # pip's chatter goes to a log; it is shown only when the install fails.
    if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip \
           && "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT${EXTRAS:+[$EXTRAS]}"; \
         } >"$VENV/pip.log" 2>&1; then
        cat "$VENV/pip.log" >&2
        exit 1
    fi
    touch "$STAMP"
fi
