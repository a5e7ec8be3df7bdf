#!/usr/bin/env bash
# System libraries the Python packages need but cannot install themselves:
# tkinter for lyse (imported via labscript_utils.excepthook), libGL/glib for PyQt5.
set -euo pipefail
PY="${1:-python3}"
missing=()
"$PY" -c 'import tkinter' 2>/dev/null || missing+=(python3-tk)
ldconfig -p | grep -q 'libGL.so.1' || missing+=(libgl1 libglx0)
ldconfig -p | grep -q 'libglib-2.0.so.0' || missing+=(libglib2.0-0)
ldconfig -p | grep -q 'libfontconfig.so.1' || missing+=(libfontconfig1)
ldconfig -p | grep -q 'libXext.so.6' || missing+=(libxext6)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing system packages. Run:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
