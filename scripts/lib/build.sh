# The release build every script installs, packages, demonstrates or measures: one way, so that what is measured is
# what is shipped. Source it and call: build_release (prints the directory holding pss and pss-host).
# --static-swift-stdlib: bin/pss carries the Swift runtime and Foundation, so it runs where no Swift toolchain is
# (libssh2, OpenSSL and zlib come from the system, as ssh's do); pss-host is static whole (Package.swift).

build_release() {
    local bin
    bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
    # A build of pss of another kind (the manual's plugin links it to the toolchain's runtime) leaves its own binary
    # where this one goes, and the build system, which remembers only its own link, would keep it: it goes first.
    if [ -f "$bin/pss" ] && readelf -d "$bin/pss" 2>/dev/null | grep -q 'libswiftCore\.so'; then rm -f "$bin/pss"; fi
    swift build -c release --static-swift-stdlib --product pss >/dev/null
    swift build -c release --static-swift-stdlib --product pss-host >/dev/null
    echo "$bin"
}
