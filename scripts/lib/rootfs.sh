# Root filesystems of other systems, for the tests that log in to them through sshd's ChrootDirectory: an older
# Debian (its glibc), and a busybox system with no libc at all. Made from Debian's packages, cached outside the
# clone (PSS_ROOTFS_CACHE, default /var/cache/pss-test), never committed.
#   source scripts/lib/rootfs.sh
#   rootfs_debian bullseye     # prints the root of a minbase bullseye, made once (debootstrap, about a minute)
#   rootfs_busybox DIR         # makes DIR a root holding only busybox-static's programs

PSS_ROOTFS_CACHE=${PSS_ROOTFS_CACHE:-/var/cache/pss-test}

# The Debian mirror apt uses here: the suites debootstrap fetches come from the same place.
rootfs_mirror() {
    local uri
    uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
    echo "${uri:?no Debian mirror found in the sources apt reads}"
}

rootfs_debian() {
    local suite=$1 root="$PSS_ROOTFS_CACHE/$1"
    if [ ! -f "$root/.complete" ]; then
        rm -rf "$root" && mkdir -p "$PSS_ROOTFS_CACHE"
        debootstrap --variant=minbase "$suite" "$root" "$(rootfs_mirror)" >"$PSS_ROOTFS_CACHE/$suite.log" 2>&1 ||
            { tail -20 "$PSS_ROOTFS_CACHE/$suite.log" >&2; return 1; }
        touch "$root/.complete"
    fi
    echo "$root"
}

rootfs_busybox() {
    local root=$1 applet
    mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/home" "$root/proc" "$root/dev" "$root/root"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list-full); do
        [ -e "$root/$applet" ] || { mkdir -p "$root/$(dirname "$applet")" && ln -s /bin/busybox "$root/$applet"; }
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
}
