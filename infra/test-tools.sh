#!/usr/bin/env bash
# infra/test-tools.sh — install the tools the test suites start themselves.
#
#   aiosmtpd   a real SMTP server (Python, PyPI) that the notify tests run on a
#              free port with its Maildir handler, then read the mails it stored.
#   schemathesis  an OpenAPI conformance fuzzer (Python, PyPI) that tests/schemathesis.rs
#              runs (`python3 -m schemathesis.cli run`) against every service's document.
#   nats-py    the NATS client (Python, PyPI) of docs/examples/dept_listen.py, which
#              services/routing/tests/dept_feed.rs runs as a department's own client.
#   openssl    makes the CA and server certificate of the notify tests' TLS relay
#              (Debian package).
#   chromium, chromium-driver, fonts-wqy-microhei
#              Debian's headless browser, its WebDriver and a CJK font, which
#              services/console/tests/browser.rs drives through the console and uses
#              for its screenshots (Debian packages; no tool downloads a browser).
#
# Idempotent: a tool already importable/installed is left as it is; nothing is
# upgraded. Uses `python3 -m pip` (the interpreter the tests will run), falling
# back to Debian's python3-aiosmtpd when pip is unavailable (schemathesis needs pip).
#
# Environment: XF_PYTHON (default python3) names the interpreter.
# stdout: one line per tool; progress and errors on stderr.
set -euo pipefail

PY=${XF_PYTHON:-python3}
log() { printf 'test-tools.sh: %s\n' "$*" >&2; }
die() {
  printf 'test-tools.sh: error: %s\n' "$*" >&2
  exit 1
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
(($# == 0)) || die "unexpected arguments: $*"

command -v "$PY" >/dev/null 2>&1 || die "$PY not found (set XF_PYTHON or install python3)"

sudo_cmd=()
((EUID == 0)) || sudo_cmd=(sudo)

if command -v openssl >/dev/null 2>&1; then
  echo "openssl $(openssl version | awk '{print $2}') (already installed)"
elif command -v apt-get >/dev/null 2>&1; then
  log "installing Debian's openssl"
  "${sudo_cmd[@]}" apt-get update -qq >&2
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends openssl >&2 ||
    die "apt-get install openssl failed"
  echo "openssl $(openssl version | awk '{print $2}') (installed)"
else
  die "openssl is missing and apt-get is not available to install it"
fi

# apt_install PKG...: one update, then the packages (for tools that are Debian packages).
apt_updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "$* missing and apt-get is not available to install it"
  if ((apt_updated == 0)); then
    "${sudo_cmd[@]}" apt-get update -qq >&2
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "$@" >&2 ||
    die "apt-get install $* failed"
}

if fc-list 2>/dev/null | grep -qi "wqy\|noto.*cjk"; then
  echo "CJK font (already installed)"
else
  log "installing Debian's fonts-wqy-microhei (Chinese text in the browser tests' screenshots)"
  apt_install fonts-wqy-microhei fontconfig
  echo "CJK font fonts-wqy-microhei (installed)"
fi

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  echo "chromium $(/usr/bin/chromedriver --version | awk '{print $2}') (already installed)"
else
  log "installing Debian's chromium and chromium-driver (a first install takes a minute)"
  apt_install chromium chromium-driver
  [[ -x /usr/bin/chromedriver ]] || die "chromium-driver installed but /usr/bin/chromedriver is missing"
  echo "chromium $(/usr/bin/chromedriver --version | awk '{print $2}') (installed)"
fi

# version IMPORT: the installed version of a Python module, if importable.
py_version() {
  "$PY" -c "import $1; print($1.__version__)" 2>/dev/null
}

pip_install() {
  # --break-system-packages only where pip knows it (Debian's externally managed Python).
  local extra=()
  if "$PY" -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
    extra+=(--break-system-packages)
  fi
  "$PY" -m pip install --quiet --disable-pip-version-check "${extra[@]}" "$@" >&2
}

have_pip() { "$PY" -m pip --version >/dev/null 2>&1; }

if v=$(py_version aiosmtpd); then
  echo "aiosmtpd $v (already installed)"
elif have_pip; then
  log "installing aiosmtpd with $PY -m pip"
  pip_install 'aiosmtpd>=1.4,<2' || die "pip install aiosmtpd failed"
  v=$(py_version aiosmtpd) || die "aiosmtpd installed but $PY cannot import it"
  echo "aiosmtpd $v (installed)"
elif command -v apt-get >/dev/null 2>&1; then
  log "pip unavailable; installing Debian's python3-aiosmtpd"
  "${sudo_cmd[@]}" apt-get update -qq >&2
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends python3-aiosmtpd >&2 ||
    die "apt-get install python3-aiosmtpd failed"
  v=$(py_version aiosmtpd) || die "aiosmtpd installed but $PY cannot import it"
  echo "aiosmtpd $v (installed)"
else
  die "neither pip nor apt-get is available to install aiosmtpd"
fi

# nats-py runs docs/examples/dept_listen.py, the department client that
# services/routing/tests/dept_feed.rs runs as an outside client (import name `nats`).
nats_py_version() {
  "$PY" -c "import nats, importlib.metadata as m; print(m.version('nats-py'))" 2>/dev/null
}
if v=$(nats_py_version) && [[ $v == 2.* ]]; then
  echo "nats-py $v (already installed)"
else
  have_pip || die "nats-py needs pip (install python3-pip)"
  log "installing nats-py with $PY -m pip"
  pip_install 'nats-py>=2.7,<3' || die "pip install nats-py failed"
  v=$(nats_py_version) || die "nats-py installed but $PY cannot import nats"
  echo "nats-py $v (installed)"
fi

# The tests pass flags of schemathesis 4 (`run --checks ... --phases ...`).
if v=$(py_version schemathesis) && [[ $v == 4.* ]]; then
  echo "schemathesis $v (already installed)"
else
  have_pip || die "schemathesis needs pip (install python3-pip)"
  log "installing schemathesis with $PY -m pip"
  pip_install 'schemathesis>=4.1,<5' || die "pip install schemathesis failed"
  v=$(py_version schemathesis) || die "schemathesis installed but $PY cannot import it"
  echo "schemathesis $v (installed)"
fi
