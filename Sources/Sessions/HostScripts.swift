import SessionWire

/// The POSIX sh that pss runs on hosts, in one place: the script that starts the helper's relay, and the
/// installer's two steps. Each is sent on the stdin of `sh -s`, a command every login shell (sh, bash, zsh, ksh,
/// fish, csh, tcsh) parses alike, so no script depends on the login shell's syntax; what the user's rc files print
/// before it runs is skipped (the relay starts with a ready line, the installer's facts with a marker line). Values
/// from this client reach a script only quoted; the host directory is computed by the host's own shell.
///
/// Before a helper is run (or uploaded), the script checks, as OpenSSH's safe_path does for authorized_keys, that
/// nobody else could have put it there: the host directory, `bin/` and the helper are real directories and a
/// regular file owned by the user and writable by nobody else, and every directory above them, up to the user's
/// home or to `/`, is owned by root or the user and not writable by others unless sticky. Writable by its group
/// counts as writable by nobody else when the user is the group's only member (a private group, as Debian's sshd
/// accepts). A check that fails, or cannot be made, exits 70 with the reason on stderr (the client reports it and
/// installs nothing); a helper that is not there exits 127 (the client installs it).
enum HostScripts {
    /// The exec command: the script follows on its stdin.
    static let command = "sh -s"

    /// The line before the installer's `key=value` facts.
    static let factsMarker = "pss-host facts"

    /// The host directory, as the host's shell computes it (PSS_HOST_DIR may be set by sshd's SetEnv).
    static let hostDirectory = #"${PSS_HOST_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/pss-host}"#

    /// Exit status of a script that refuses to go on; its reason is on stderr.
    static let refusedStatus: Int32 = 70

    /// Sets `d` to the host directory, refusing a relative one (it would be taken from wherever the shell starts).
    private static let hostDirectoryLines = [
        "d=\(hostDirectory)",
        #"case $d in /*) ;; *) echo "pss-host: the host directory '$d' is not an absolute path; set PSS_HOST_DIR (or XDG_STATE_HOME) on the host to an absolute path" >&2; exit 70;; esac"#,
    ]

    /// Sets `hc` to the user's home, canonical, where the walk up the path stops (as OpenSSH's safe_path); empty
    /// when there is none to enter.
    private static let homeLine = #"hc=; cd -P -- "${HOME:-/nonexistent}" 2>/dev/null && hc=$PWD"#

    /// `pss_private_group GID UID`: whether the user is the group's only member (a user private group).
    private static let privateGroup = #"""
        pss_private_group() { e=$(getent group "$1" 2>/dev/null) || return 1; s=${e##*:}; [ -z "$s" ] || [ "$s" = "$(id -un)" ] || return 1; getent passwd 2>/dev/null | awk -F: -v g="$1" -v u="$2" -v s="$s" '$4 == g && $3 != u { bad = 1 } $4 == g && $3 == u { own = 1 } END { exit (bad || (own == 0 && s == "")) }'; }
        """#

    /// `pss_judge OWN TOTAL [UID]` reads TOTAL `stat -c '%u %g %a %n'` lines: the first OWN are pss's own (owned by
    /// the user, writable by nobody else), the rest the directories above them (owned by root or the user, and not
    /// writable by others unless sticky). The user's uid is UID, or the first line's owner (checked to be the user's
    /// with `[ -O ]` before). Prints why a path cannot be trusted, and fails; fails too when a line is missing (stat
    /// could not tell).
    private static let judge = #"""
        pss_judge() { n=0; u=$3; while read -r o g a p; do n=$((n + 1)); m=$((0$a)); [ -n "$u" ] || u=$o; if [ $n -le "$1" ]; then [ "$o" = "$u" ] || { echo "$p is owned by uid $o, not by you"; return 1; }; [ $((m & 2)) -eq 0 ] || { echo "$p is writable by others (mode $a)"; return 1; }; [ $((m & 16)) -eq 0 ] || pss_private_group "$g" "$u" || { echo "$p is writable by its group (mode $a), which has members other than you"; return 1; }; else [ "$o" = 0 ] || [ "$o" = "$u" ] || { echo "$p, above the host directory, is owned by uid $o (neither root nor you)"; return 1; }; if [ $((m & 512)) -eq 0 ]; then [ $((m & 2)) -eq 0 ] || { echo "$p, above the host directory, is writable by others (mode $a) and not sticky"; return 1; }; [ $((m & 16)) -eq 0 ] || pss_private_group "$g" "$u" || { echo "$p, above the host directory, is writable by its group (mode $a), which has members other than you"; return 1; }; fi; fi; done; [ $n -eq "$2" ] || { echo "the owner and mode of $2 paths could not all be read (stat gave $n)"; return 1; }; }
        """#

    /// Appends to "$@" every directory above `c` (canonical), up to the user's home (`hc`) or `/`.
    private static let pathsAbove = #"p=${c%/*}; while :; do set -- "$@" "${p:-/}"; if [ -z "$p" ] || [ "$p" = "$hc" ]; then break; fi; p=${p%/*}; done"#

    private static let advice = "pss will not run or install its helper there: another user could replace it. Set PSS_HOST_DIR on the host (for example with sshd's SetEnv) to a directory only you and root can write."

    /// For a host directory where programs cannot run or files cannot be written.
    private static let mountAdvice = "Set PSS_HOST_DIR for your account on the host to a directory you own on a mount where files may be written and programs may run (with sshd's SetEnv, or in ~/.ssh/environment where sshd has PermitUserEnvironment yes)."

    /// `pss_mount PATH` prints the mount point holding PATH (canonical) and its options, from /proc/self/mountinfo.
    private static let mountOf = #"""
        pss_mount() { awk -v p="$1" '{ m = $5; gsub(/\040/, " ", m); if ((p == m || index(p, m "/") == 1 || m == "/") && length(m) >= length(b)) { b = m; o = $6 } } END { if (b != "") print b " (" o ")" }' /proc/self/mountinfo 2>/dev/null; }
        """#

    /// `pss_logout` prints why the daemon would end at logout, or nothing: systemd-logind's KillUserProcesses (the
    /// last value in logind.conf and its drop-ins), unless the user lingers.
    private static let logoutCheck = #"""
        pss_logout() { k=$(cat /etc/systemd/logind.conf /usr/lib/systemd/logind.conf.d/*.conf /run/systemd/logind.conf.d/*.conf /etc/systemd/logind.conf.d/*.conf 2>/dev/null | sed -n 's/^[[:space:]]*KillUserProcesses[[:space:]]*=[[:space:]]*//p' | tail -n 1); case $k in yes|true|on|1) [ -e "/var/lib/systemd/linger/$(id -un)" ] || echo "systemd-logind ends your processes at logout here (KillUserProcesses=$k), the pss daemon and its sessions with them; to keep them, run: loginctl enable-linger $(id -un)";; esac; }
        """#

    /// The exec command that connects the channel to the user's daemon through `helper`'s relay. The helper is run
    /// from the directory the checks entered (`./`), so nothing above it is looked up again.
    static func relay(_ helper: HelperBinary) -> String {
        let lines = hostDirectoryLines + [
            "h=\(ShellQuoting.quote(helper.installedName))",
            #"for x in "$d" "$d/bin" "$d/bin/$h"; do if [ -L "$x" ]; then echo "pss-host: $x is a symbolic link; \#(advice)" >&2; exit 70; fi; done"#,
            homeLine,
            #"cd -P -- "$d/bin" 2>/dev/null && [ -f "$h" ] || exit 127"#,
            #"[ -O . ] && [ -O .. ] && [ -O "$h" ] || { echo "pss-host: $d, its bin/ or $h is not owned by you; \#(advice)" >&2; exit 70; }"#,
            "c=${PWD%/*}",
            #"set -- "$c" "$c/bin" "$c/bin/$h""#,
            pathsAbove,
            privateGroup,
            judge,
            #"r=$(stat -c '%u %g %a %n' -- "$@" 2>/dev/null | pss_judge 3 $#) || { echo "pss-host: host directory $d: $r; \#(advice)" >&2; exit 70; }"#,
            #"exec "./$h" relay"#,
        ]
        return lines.joined(separator: "; ") + "\n"
    }

    /// Installer, step 1: checks what exists above the host directory, makes the directory and bin/ (0700) when
    /// missing, checks them as `relay` does, and reports `key=value` facts: arch, glibc, the canonical directory,
    /// free KiB, or `error=`.
    static let prepare = (["umask 077", "echo \(factsMarker)"] + hostDirectoryLines + [
        privateGroup,
        judge,
        mountOf,
        logoutCheck,
        homeLine,
        #"q=${d%/*}; while [ -n "$q" ] && [ ! -d "$q" ]; do q=${q%/*}; done"#,
        #"cd -P -- "${q:-/}" || { echo "error=cannot enter ${q:-/}"; exit 0; }"#,
        "c=$PWD/.",
        "set --",
        pathsAbove,
        #"r=$(stat -c '%u %g %a %n' -- "$@" 2>/dev/null | pss_judge 0 $# "$(id -u)") || { echo "error=$d: $r; \#(advice)"; exit 0; }"#,
        #"e=$(mkdir -p -- "$d/bin" 2>&1) || { echo "error=cannot create $d/bin (${e##*: }), on $(pss_mount "${q:-/}"). \#(mountAdvice)"; exit 0; }"#,
        #"for x in "$d" "$d/bin"; do if [ -L "$x" ] || [ ! -d "$x" ]; then echo "error=$x is not a directory (or is a symbolic link); \#(advice)"; exit 0; fi; if [ ! -O "$x" ]; then o=$(stat -c %u -- "$x"); n=; [ "$o" = 65534 ] && n=" (it belongs to nobody: a home on NFS that squashes root?)"; echo "error=$x is not owned by $(id -un)$n; \#(advice)"; exit 0; fi; done"#,
        #"cd -P -- "$d" || { echo "error=cannot enter $d"; exit 0; }"#,
        "c=$PWD",
        #"set -- "$c" "$c/bin""#,
        pathsAbove,
        #"r=$(stat -c '%u %g %a %n' -- "$@" 2>/dev/null | pss_judge 2 $#) || { echo "error=$d: $r; \#(advice)"; exit 0; }"#,
        #"[ -w "$c/bin" ] || { echo "error=$c/bin is not writable, on $(pss_mount "$c/bin"). \#(mountAdvice)"; exit 0; }"#,
        // Programs must be able to run there: tried with a two-line script before anything is uploaded.
        #"x=$c/bin/.exec-probe-$$; printf '#!/bin/sh\nexit 0\n' > "$x" && chmod 700 "$x" && "$x" 2>/dev/null; r=$?; rm -f -- "$x""#,
        #"if [ $r -ne 0 ]; then m=$(pss_mount "$c/bin"); case $m in *noexec*) echo "error=$c is on a noexec mount, $m: programs cannot run there. \#(mountAdvice)";; *) echo "error=programs cannot run in $c/bin (on $m). \#(mountAdvice)";; esac; exit 0; fi"#,
        #"echo "arch=$(uname -m)""#,
        #"echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null || true)""#,
        #"echo "dir=$c""#,
        #"echo "free=$(df -Pk "$c/bin" 2>/dev/null | awk 'NR==2 {print $4}')""#,
        #"w=$(pss_logout); [ -z "$w" ] || echo "warn=$w""#,
    ]).joined(separator: "; ") + "\n"

    /// `pss doctor`: facts about the host and the user's pss there, as `key=value` lines, changing nothing. The
    /// daemon is asked only through this client's helper, and only when the checks trust it.
    static func doctor(_ helper: HelperBinary) -> String {
        ([
            "echo \(factsMarker)", privateGroup, judge, mountOf, logoutCheck, homeLine,
            "h=\(ShellQuoting.quote(helper.installedName))",
            #"echo "arch=$(uname -m)"; echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null || true)"; echo "user=$(id -un)""#,
            "d=\(hostDirectory)",
            #"echo "dir=$d""#,
            #"case $d in /*) ;; *) echo "dir_error=the host directory '$d' is not an absolute path (PSS_HOST_DIR or XDG_STATE_HOME)"; d=;; esac"#,
            #"if [ -n "$d" ] && [ -d "$d" ] && [ ! -L "$d" ]; then cd -P -- "$d"; c=$PWD; echo "dir_exists=1"; echo "dir_owner=$(stat -c '%U %a' -- "$c")"; set -- "$c"; o=1; if [ -d "$c/bin" ]; then set -- "$@" "$c/bin"; o=2; fi; if [ -O "$c" ]; then u=; else u=0; fi; elif [ -n "$d" ]; then q=${d%/*}; while [ -n "$q" ] && [ ! -d "$q" ]; do q=${q%/*}; done; cd -P -- "${q:-/}"; c=$PWD/.; echo "dir_exists=0"; set --; o=0; u=$(id -u); fi"#,
            #"if [ -n "$d" ]; then m=$PWD; \#(pathsAbove); r=$(stat -c '%u %g %a %n' -- "$@" 2>/dev/null | pss_judge $o $# $u) && t=ok || t=$r; [ -n "$u" ] && [ $o -gt 0 ] && t="$d is not owned by $(id -un)"; echo "trust=$t"; echo "mount=$(pss_mount "$m")"; echo "free=$(df -Pk "$m" 2>/dev/null | awk 'NR==2 {print $4}')"; fi"#,
            #"if [ -n "$d" ] && [ -f "$d/bin/$h" ]; then echo "helper=installed"; else echo "helper=missing"; fi"#,
            #"echo "other_helpers=$(ls -- "$d/bin" 2>/dev/null | grep -c '^pss-host-' | tr -d ' ')""#,
            #"if [ "$t" = ok ] && [ -x "$d/bin/$h" ]; then "$d/bin/$h" status 2>/dev/null; fi"#,
            #"w=$(pss_logout); echo "logout=${w:-ok}""#,
            // The sshd serving this session: its -f file, found up the parent processes (else the system's).
            #"p=$PPID; f=/etc/ssh/sshd_config; while [ -n "$p" ] && [ "$p" -gt 1 ]; do a=$(tr '\000' ' ' < /proc/$p/cmdline 2>/dev/null); case $a in *sshd*' -f '*) f=${a#*' -f '}; f=${f%% *}; break;; esac; p=$(awk '/^PPid:/ {print $2}' /proc/$p/status 2>/dev/null); done"#,
            #"x=/usr/sbin/sshd; [ -x "$x" ] || x=sshd; v=$("$x" -T -f "$f" 2>/dev/null | awk '$1 == "clientaliveinterval" {print $2}'); [ -n "$v" ] || v=$(awk 'tolower($1) == "clientaliveinterval" {print $2; exit}' "$f" 2>/dev/null); echo "sshd_config=$f"; echo "clientalive=$v""#,
        ]).joined(separator: "; ") + "\n"
    }

    /// The line the upload script prints when `cat` is about to take the bytes.
    static let uploadMarker = "pss-host upload ready"

    /// The upload: creates `path` (0600) and copies stdin into it, after the marker line.
    static func upload(to path: String) -> String {
        ["umask 077", "f=\(ShellQuoting.quote(path))", "echo \(uploadMarker)", #"exec cat > "$f""#].joined(separator: "; ") + "\n"
    }

    /// Installer, step 2: checks the uploaded file's size and SHA-256 (with whichever tool the host has; a host
    /// with none is refused rather than trusted), then moves it into place, never into a directory of that name.
    static func install(uploaded temporary: String, as helper: HelperBinary, in directory: String) -> String {
        let quote = ShellQuoting.quote
        return [
            "echo \(factsMarker)",
            "f=\(quote(temporary))",
            "t=\(quote(directory + "/bin/" + helper.installedName))",
            #"size=$(stat -c %s -- "$f")"#,
            #"if [ "$size" != \#(helper.size) ]; then rm -f -- "$f"; echo "error=size $size, expected \#(helper.size): is the host directory full?"; exit 0; fi"#,
            #"if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum -- "$f"); elif command -v shasum >/dev/null 2>&1; then sum=$(shasum -a 256 -- "$f"); elif command -v openssl >/dev/null 2>&1; then sum=$(openssl dgst -sha256 -r -- "$f"); else rm -f -- "$f"; echo "error=the host has no sha256sum, shasum or openssl to check the uploaded helper with"; exit 0; fi"#,
            #"sum=${sum%% *}"#,
            #"if [ "$sum" != \#(helper.sha256) ]; then rm -f -- "$f"; echo "error=SHA-256 $sum, expected \#(helper.sha256)"; exit 0; fi"#,
            #"if [ -d "$t" ] && [ ! -L "$t" ]; then rm -f -- "$f"; echo "error=$t is a directory"; exit 0; fi"#,
            #"chmod 700 -- "$f" && mv -f -T -- "$f" "$t" && echo ok=1"#,
        ].joined(separator: "; ") + "\n"
    }
}
