#!/usr/bin/env bash
# Install the Debian programs some tests drive, when the machine allows it (running as root, with apt-get):
#   chromium  — the playground's browser tests (tests/test_web_browser.py)
#   ffmpeg    — writing race animations as MP4 (tests/test_plots.py; GIF needs nothing)
# A program already present is left alone. Otherwise say why and succeed, so `make test` goes on and the
# tests that need a missing program say that they skip. Never downloads programs any other way.
set -u

install_one() {  # $1: Debian package, $2: the program it provides, $3: what skips without it
    local package=$1 program=$2 skips=$3
    if [ -x "$program" ]; then
        echo "install_test_tools: $program is already installed"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "install_test_tools: $package skipped, not running as root (sudo apt-get install -y $package); $skips"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install_test_tools: $package skipped, apt-get is not available on this machine; $skips"
        return 0
    fi
    echo "install_test_tools: installing Debian's $package with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y -qq "$package" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$package" >/dev/null 2>&1; }; then
        echo "install_test_tools: installed $program"
    else
        echo "install_test_tools: apt-get could not install $package (offline or no package); $skips"
    fi
}

install_one chromium /usr/bin/chromium "the browser tests will skip"
install_one ffmpeg /usr/bin/ffmpeg "the MP4 animation test checks the clear error instead"
exit 0
