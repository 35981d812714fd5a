#!/usr/bin/env bash
# Installs the real servers the integration tests and benchmarks start: Dovecot (IMAP, LMTP),
# Postfix's smtp-sink/smtp-source, imapfilter, swaks, and Chromium for the report screenshot.
# Needs root; without root it says what to install and the tests that need a missing server
# are skipped with that reason.
set -euo pipefail
need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd dovecot-lmtpd)
[ -x /usr/sbin/smtp-sink ] || need+=(postfix)
command -v imapfilter >/dev/null 2>&1 || need+=(imapfilter)
command -v swaks >/dev/null 2>&1 || need+=(swaks)
# headless Chromium screenshots the HTML statistics report (tests/integration/test_report_html.py)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "not root: install ${need[*]} (apt-get install) for the integration tests" >&2
  exit 0
fi
# The packages would start the system Dovecot on 143/993: a policy-rc.d that exits 101 stops
# services from starting during the install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
# With "No configuration" Postfix writes no main.cf and runs no mail server: we only want its
# test programs.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
