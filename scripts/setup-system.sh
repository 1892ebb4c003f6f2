#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks need, when they are missing:
# run by `npm test` (pretest) so that `npm install && npm test` works on a fresh Debian
# machine that has only Node.js and npm. Needs root (or sudo) only when something is missing.
set -euo pipefail

# package -> why
PACKAGES=(
  mosquitto # bench/: the MQTT broker the relay is measured against
  openssl   # bench/: a throwaway CA and certificate for mosquitto's TLS listener
  libgtk-3-0                 # the systray2 tray helper (client tray icon) links GTK 3
  libayatana-appindicator3-1 # ... and libappindicator3.so.1, which this package provides
  xvfb                       # test/tray: an X server without a screen
  trayer                     # test/tray: a system tray for the helper's icon to sit in
  systemd                    # test/ctrl: systemd-analyze verify checks the relay's unit file
  libxml2-utils              # test/ctrl: xmllint checks the macOS launchd plist
  xdotool                    # test/tray: clicks the icon and chooses menu items
  chromium                   # test/browser: the real browser the mailbox is tested in
  fonts-noto-cjk             # test/browser: Chinese and Japanese glyphs in screenshots
  fonts-noto-core            # test/browser: Arabic and other scripts in screenshots
  fonts-noto-color-emoji     # test/browser: emoji in screenshots
  nats-server                # test/cluster: the NATS servers (JetStream) relay nodes cluster on
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

echo "installing Debian packages: ${missing[*]}" >&2
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
