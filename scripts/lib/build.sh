# The release build every script installs, packages, demonstrates or measures: one way, so that what is measured is
# what is shipped. Source it and call: build_release (prints the directory holding pss and pss-host).
# --static-swift-stdlib: bin/pss carries the Swift runtime and Foundation, so it runs where no Swift toolchain is
# (libssh2, OpenSSL and zlib come from the system, as ssh's do); pss-host is static whole (Package.swift).

# Whether a pss binary loads the Swift runtime from the toolchain.
links_toolchain() {
    [ -f "$1" ] && readelf -d "$1" 2>/dev/null | grep -q 'libswiftCore\.so'
}

build_release() {
    local bin
    bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
    # The manual's plugin builds pss its own way (linked to the toolchain's runtime) where this build puts it, and
    # leaves its build plan behind, which a later build reuses whatever its options: both go, so the plan is made
    # again with ours.
    if links_toolchain "$bin/pss"; then rm -f "$bin/pss" "$bin/description.json" "$(dirname "$bin")/../release.yaml"; fi
    swift build -c release --static-swift-stdlib --product pss >/dev/null
    swift build -c release --static-swift-stdlib --product pss-host >/dev/null
    if links_toolchain "$bin/pss"; then
        echo "build_release: $bin/pss still loads the Swift runtime of the toolchain" >&2
        return 1
    fi
    echo "$bin"
}
