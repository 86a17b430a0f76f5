# Installs the Debian packages pss needs to build and test, if any is missing.
# Source it and call: ensure_packages

# libssl-dev: OpenSSL headers for CKeystreamBatching; zlib1g-dev: gzip for the helper's first trip to a host;
# xz-utils, binutils: the installed helper is stripped, and an .xz of it is installed beside it (scripts/install);
# libstdc++-12-dev: the static archive linked into pss-host;
# libpam-google-authenticator: a real one-time-code prompt, for the keyboard-interactive tests; zsh, ksh, fish, csh,
# tcsh: the login shells users have, for the scripts pss runs on hosts; dropbear-bin: the other SSH server admins run;
# sudo: a real password prompt on a terminal, for commands that wait on theirs; iproute2, socat: hosts behind a
# bastion in a network namespace, and the bridge to it; busybox-static, debootstrap: servers of other systems
# (a root with no libc, a Debian 11 root) for sshd's ChrootDirectory logins.
PSS_PACKAGES=(libssh2-1-dev libssl-dev zlib1g-dev libstdc++-12-dev pkg-config xz-utils binutils openssh-server openssh-client tmux
              libpam-google-authenticator zsh ksh fish csh tcsh dropbear-bin sudo iproute2 socat busybox-static debootstrap)

# What building pss needs, and no more (scripts/install).
PSS_BUILD_PACKAGES=(libssh2-1-dev libssl-dev zlib1g-dev libstdc++-12-dev pkg-config xz-utils binutils)

# What scripts/bench compares pss with, beyond OpenSSH and tmux: pdsh and parallel-ssh (fan-out).
PSS_BENCH_PACKAGES=(pdsh pssh)

# What scripts/package and scripts/test-package need: dpkg-shlibdeps (dpkg-dev), lintian, and debootstrap for the
# fresh Debian root the package is installed into.
PSS_PACKAGE_PACKAGES=(dpkg-dev lintian debootstrap)

# ensure_packages [build|bench|package]: the whole set (tests, demo), only what building needs, or the whole set and
# the benchmark's anchors, or the whole set and what packaging needs.
ensure_packages() {
    local missing=()
    local wanted=("${PSS_PACKAGES[@]}")
    [ "${1:-}" != build ] || wanted=("${PSS_BUILD_PACKAGES[@]}")
    [ "${1:-}" != bench ] || wanted+=("${PSS_BENCH_PACKAGES[@]}")
    [ "${1:-}" != package ] || wanted+=("${PSS_PACKAGE_PACKAGES[@]}")
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "==> installing ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    mkdir -p /run/sshd 2>/dev/null || true
}
