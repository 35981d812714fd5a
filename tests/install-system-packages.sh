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
# services from starting during the install (invoke-rc.d, see /usr/share/doc/init-system-helpers/
# README.policy-rc.d). It is put back as it was found when the script ends, however it ends:
# one left behind would keep every later apt upgrade from (re)starting the machine's services.
# MAILPROC_POLICY_RC_D: another path, for the test of this (tests/unit/test_install_script.py).
policy="${MAILPROC_POLICY_RC_D:-/usr/sbin/policy-rc.d}"
saved="$policy.mailproc-saved"
restore_policy() {
  if [ -e "$saved" ]; then
    mv -f "$saved" "$policy"  # the one that was there, with its mode and owner
  else
    rm -f "$policy"  # ours: there was none
  fi
}
if [ -e "$saved" ]; then
  :  # a run killed before it could restore: $saved still holds the one that was there
elif [ -e "$policy" ]; then
  mv "$policy" "$saved"
fi
trap restore_policy EXIT
trap 'exit 130' INT TERM HUP  # through the EXIT trap
printf '#!/bin/sh\nexit 101\n' > "$policy"
chmod +x "$policy"
# With "No configuration" Postfix writes no main.cf and runs no mail server: we only want its
# test programs.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
