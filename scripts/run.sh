#!/usr/bin/env bash
# Run the whole system on this box with embedded defaults (README: "Run it").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
source "$ROOT/scripts/bootstrap.sh" ""
exec "$VENV/bin/citywifi" up --demo "$@"
