import SessionWire

/// The POSIX sh that pss runs on hosts, in one place: the script that starts the helper's relay, the installer's
/// steps (prepare, upload, install) and the doctor's look around. Each is sent on the stdin of `sh -s`, a command every login shell (sh, bash, zsh, ksh,
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
    /// The one exec command pss asks for: the script follows on its stdin.
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

    /// How a user sets PSS_HOST_DIR on a host without root: the file the login shell reads for every command.
    static let settingHostDirectory =
        "export PSS_HOST_DIR=/some/dir at the top of the file your login shell reads for every command on the host (~/.bashrc, ~/.zshenv, ~/.config/fish/config.fish as set -x, ~/.tcshrc or ~/.cshrc as setenv), or have root set it with sshd's SetEnv"

    private static let advice =
        "pss will not run or install its helper there: another user could replace it. Use a directory only you and root can write: \(settingHostDirectory)."

    /// For a host directory where programs cannot run or files cannot be written.
    static let mountAdvice = "Use a directory you own on a mount where files may be written and programs may run: \(settingHostDirectory)."

    /// For a host directory that cannot be made for want of permission.
    private static let permissionAdvice = "Make the directories above it yours to write, or use another: \(settingHostDirectory)."

    /// `pss_mount PATH` prints the mount point holding PATH (canonical) and its options, from /proc/self/mountinfo.
    private static let mountOf = #"""
        pss_mount() { awk -v p="$1" '{ m = $5; gsub(/\040/, " ", m); if ((p == m || index(p, m "/") == 1 || m == "/") && length(m) >= length(b)) { b = m; o = $6 } } END { if (b != "") print b " (" o ")" }' /proc/self/mountinfo 2>/dev/null; }
        """#

    /// `pss_logout` prints why the daemon would end at logout, or nothing: in a logind session (pam_systemd set
    /// XDG_SESSION_ID), logind's KillUserProcesses (the last value in logind.conf and its drop-ins, by file name as
    /// systemd orders them), unless the user is in KillExcludeUsers (default root) or lingers.
    private static let logoutCheck = #"""
        pss_logind() { for f in /usr/lib/systemd/logind.conf.d/*.conf /run/systemd/logind.conf.d/*.conf /etc/systemd/logind.conf.d/*.conf; do [ -f "$f" ] && echo "${f##*/} $f"; done | sort -s -k1,1 | while read -r n f; do echo "$f"; done; }; pss_logout() { [ -n "${XDG_SESSION_ID:-}" ] || return 0; s=$(cat /etc/systemd/logind.conf $(pss_logind) 2>/dev/null); k=$(printf '%s\n' "$s" | sed -n 's/^[[:space:]]*KillUserProcesses[[:space:]]*=[[:space:]]*//p' | tail -n 1); x=$(printf '%s\n' "$s" | sed -n 's/^[[:space:]]*KillExcludeUsers[[:space:]]*=[[:space:]]*/=/p' | tail -n 1); x=${x:-=root}; u=$(id -un); case " ${x#=} " in *" $u "*) return 0;; esac; case $k in [Yy]|[Yy][Ee][Ss]|[Tt][Rr][Uu][Ee]|[Oo][Nn]|1) [ -e "/var/lib/systemd/linger/$u" ] || echo "systemd-logind ends your processes at logout here (KillUserProcesses=$k), the pss daemon and its sessions with them; to keep them, run: loginctl enable-linger $u";; esac; }
        """#

    /// The script that connects the channel to the user's daemon through `helper`'s relay. The helper is run
    /// from the directory the checks entered (`./`), so nothing above it is looked up again.
    static func relay(_ helper: HelperBinary) -> String {
        let lines =
            hostDirectoryLines + [
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

    /// The host's C library, for doctor and messages (the static helper needs none): glibc's own word, else musl's
    /// loader's (`ldd` is musl's loader on Alpine and prints its version on stderr), else nothing.
    static let libcLine =
        #"l=$(getconf GNU_LIBC_VERSION 2>/dev/null) || l=; [ -n "$l" ] || l=$(ldd 2>&1 | sed -n 's/^Version \(.*\)/musl \1/p' | head -n 1); echo "libc=$l""#

    /// Where `pss config register` installs the helper for session configurations (root's).
    static let systemHelper = "/usr/local/lib/pss/pss-host"

    /// The script that reaches configuration `name`'s sessions through the system-wide helper, which checks who
    /// may (the name is checked by the client and the helper, and quoted here).
    static func configurationRelay(_ name: String) -> String {
        let lines = [
            "h=\(systemHelper)",
            #"[ -f "$h" ] && [ -x "$h" ] && [ "$(stat -c %u -- "$h" 2>/dev/null)" = 0 ] || { echo "pss-host: this host has no session configurations ($h is missing or not root's; an administrator runs pss config register)" >&2; exit 70; }"#,
            #"exec "$h" session \#(ShellQuoting.quote(name))"#,
        ]
        return lines.joined(separator: "; ") + "\n"
    }

    /// Installer, step 1: checks what exists above the host directory, makes the directory and bin/ (0700) when
    /// missing, checks them as `relay` does, and reports `key=value` facts: arch, the canonical directory,
    /// free KiB, or `error=`.
    static let prepare =
        (["umask 077", "echo \(factsMarker)"] + hostDirectoryLines + [
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
            #"e=$(mkdir -p -- "$d/bin" 2>&1) || { case $e in *[Rr]ead-only*|*space*|*[Qq]uota*) a="\#(mountAdvice)";; *) a="\#(permissionAdvice)";; esac; echo "error=cannot create $d/bin (${e##*: }), on $(pss_mount "${q:-/}"). $a"; exit 0; }"#,
            #"for x in "$d" "$d/bin"; do if [ -L "$x" ] || [ ! -d "$x" ]; then echo "error=$x is not a directory (or is a symbolic link); \#(advice)"; exit 0; fi; if [ ! -O "$x" ]; then o=$(stat -c %u -- "$x"); n=; [ "$o" = 65534 ] && n=" (it belongs to nobody: a home on NFS that squashes root?)"; echo "error=$x is not owned by $(id -un)$n; \#(advice)"; exit 0; fi; done"#,
            #"cd -P -- "$d" || { echo "error=cannot enter $d"; exit 0; }"#,
            "c=$PWD",
            #"set -- "$c" "$c/bin""#,
            pathsAbove,
            #"r=$(stat -c '%u %g %a %n' -- "$@" 2>/dev/null | pss_judge 2 $#) || { echo "error=$d: $r; \#(advice)"; exit 0; }"#,
            #"[ -w "$c/bin" ] || { echo "error=$c/bin is not writable, on $(pss_mount "$c/bin"). \#(mountAdvice)"; exit 0; }"#,
            // Uploads a lost connection left behind (an upload in progress is younger than this), once bin/ is trusted.
            #"find "$c/bin" -maxdepth 1 -name '.upload-*' -mmin +60 -exec rm -f -- {} + 2>/dev/null"#,
            // Programs must be able to run there: tried with a two-line script before anything is uploaded.
            #"x=$c/bin/.exec-probe-$$; if ! printf '#!/bin/sh\nexit 0\n' 2>/dev/null > "$x"; then rm -f -- "$x"; echo "error=cannot write in $c/bin ($(df -Pk "$c/bin" 2>/dev/null | awk 'NR==2 {print $4}') KiB free on $(pss_mount "$c/bin")). \#(mountAdvice)"; exit 0; fi"#,
            #"chmod 700 "$x" && "$x" 2>/dev/null; r=$?; rm -f -- "$x""#,
            #"if [ $r -ne 0 ]; then m=$(pss_mount "$c/bin"); case $m in *'(noexec'*|*',noexec'*) echo "error=$c is on a noexec mount, $m: programs cannot run there. \#(mountAdvice)";; *) echo "error=programs cannot run in $c/bin (on $m). \#(mountAdvice)";; esac; exit 0; fi"#,
            #"echo "arch=$(uname -m)""#,
            #"echo "dir=$c""#,
            #"echo "free=$(df -Pk "$c/bin" 2>/dev/null | awk 'NR==2 {print $4}')""#,
            #"echo "unpack=$(for p in xz gzip; do command -v $p >/dev/null 2>&1 && printf '%s ' $p; done)""#,
            #"w=$(pss_logout); [ -z "$w" ] || echo "warn=$w""#,
        ]).joined(separator: "; ") + "\n"

    /// `pss doctor`: facts about the host and the user's pss there, as `key=value` lines, changing nothing. The
    /// daemon is asked only through this client's helper, and only when the checks trust it.
    static func doctor(_ helper: HelperBinary) -> String {
        ([
            "echo \(factsMarker)", privateGroup, judge, mountOf, logoutCheck, homeLine,
            "h=\(ShellQuoting.quote(helper.installedName))",
            #"echo "arch=$(uname -m)"; echo "user=$(id -un)""#,
            libcLine,
            "d=\(hostDirectory)",
            #"echo "dir=$d""#,
            #"case $d in /*) ;; *) echo "dir_error=the host directory '$d' is not an absolute path (PSS_HOST_DIR or XDG_STATE_HOME)"; d=;; esac"#,
            // As the relay: symbolic links refused, the helper checked with its directories, and run from the
            // directory entered (`cd -P`), so nothing is looked up again between the check and the run.
            #"t=; c=; o=0; u=; n="#,
            #"if [ -n "$d" ] && { [ -e "$d" ] || [ -L "$d" ]; }; then echo "dir_exists=1"; for x in "$d" "$d/bin" "$d/bin/$h"; do [ -L "$x" ] && t="$x is a symbolic link"; done; if [ -z "$t" ]; then if cd -P -- "$d" 2>/dev/null; then c=$PWD; echo "dir_owner=$(stat -c '%U %a' -- "$c")"; set -- "$c"; o=1; if [ -d bin ]; then set -- "$@" "$c/bin"; o=2; if [ -f "bin/$h" ]; then set -- "$@" "$c/bin/$h"; o=3; fi; fi; [ -O "$c" ] || { u=0; n=1; }; else t="cannot enter $d (not a directory you may search)"; fi; fi; elif [ -n "$d" ]; then q=${d%/*}; while [ -n "$q" ] && [ ! -d "$q" ]; do q=${q%/*}; done; cd -P -- "${q:-/}" && c=$PWD/.; echo "dir_exists=0"; set --; u=$(id -u); fi"#,
            #"if [ -n "$c" ] && [ -z "$t" ]; then m=$PWD; \#(pathsAbove); r=$(stat -c '%u %g %a %n' -- "$@" 2>/dev/null | pss_judge $o $# $u) && t=ok || t=$r; [ -n "$n" ] && t="$d is not owned by $(id -un)"; echo "mount=$(pss_mount "$m")"; echo "free=$(df -Pk "$m" 2>/dev/null | awk 'NR==2 {print $4}')"; fi"#,
            #"[ -z "$d" ] || echo "trust=$t""#,
            #"if [ $o -eq 3 ]; then echo "helper=installed"; else echo "helper=missing"; fi"#,
            #"echo "other_helpers=$(ls -- "$d/bin" 2>/dev/null | grep -c '^pss-host-' | tr -d ' ')""#,
            #"if [ "$t" = ok ] && [ $o -eq 3 ]; then (cd -P bin && [ -O . ] && [ -O "$h" ] && "./$h" status 2>/dev/null); fi"#,
            #"w=$(pss_logout); echo "logout=${w:-ok}""#,
            // The sshd serving this session: its -f file, found up the parent processes (else the system's).
            #"p=$PPID; f=/etc/ssh/sshd_config; while [ -n "$p" ] && [ "$p" -gt 1 ]; do a=$(tr '\000' ' ' < /proc/$p/cmdline 2>/dev/null); case $a in *sshd*' -f '*) f=${a#*' -f '}; f=${f%% *}; break;; esac; p=$(awk '/^PPid:/ {print $2}' /proc/$p/status 2>/dev/null); done"#,
            #"x=/usr/sbin/sshd; [ -x "$x" ] || x=sshd; v=$("$x" -T -f "$f" 2>/dev/null | awk '$1 == "clientaliveinterval" {print $2}'); [ -n "$v" ] || v=$(awk 'tolower($1) == "clientaliveinterval" {print $2; exit}' "$f" 2>/dev/null); echo "sshd_config=$f"; echo "clientalive=$v""#,
        ]).joined(separator: "; ") + "\n"
    }

    /// The complete lines after the last line that ends with `marker`: what rc files print before it is skipped,
    /// even a greeting without a newline of its own; nil while no complete line does.
    static func lines(after marker: String, in output: [UInt8]) -> ArraySlice<Substring>? {
        var lines = String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()  // what follows the last newline: not a complete line
        guard let index = lines.lastIndex(where: { $0.hasSuffix(marker) }) else { return nil }
        return lines[(index + 1)...]
    }

    /// The line the upload script prints when `cat` is about to take the bytes.
    static let uploadMarker = "pss-host upload ready"

    /// The upload: creates `path` (0600) and copies stdin into it, after the marker line.
    static func upload(to path: String) -> String {
        [
            "umask 077", "f=\(ShellQuoting.quote(path))", "echo \(uploadMarker)",
            #"cat > "$f" || { rm -f -- "$f"; exit 1; }"#,
        ].joined(separator: "; ") + "\n"
    }

    /// Installer, step 2: unpacks the upload (`packed`, when compressed), checks the helper's size and SHA-256
    /// (with whichever tool the host has; a host with none is refused rather than trusted), then moves it into
    /// place, never into a directory of that name. Then removes the other helpers in bin/ that no process runs
    /// (those of earlier pss versions: a host keeps one or two, not one per upgrade), unless bin/ is on a network
    /// file system, whose other machines' processes this one cannot see.
    static func install(uploaded temporary: String, packed: HelperPackage.Format, as helper: HelperBinary, in directory: String) -> String {
        let quote = ShellQuoting.quote
        let unpack =
            packed.unpackCommand.map { command in
                #"p=$f.\#(packed.rawValue); \#(command) < "$p" > "$f" 2>/dev/null || { rm -f -- "$f" "$p"; echo "error=the helper could not be unpacked (\#(command))"; exit 0; }; rm -f -- "$p""#
            } ?? ":"
        return [
            "umask 077",
            "echo \(factsMarker)",
            "f=\(quote(temporary))",
            "t=\(quote(directory + "/bin/" + helper.installedName))",
            unpack,
            #"size=$(stat -c %s -- "$f")"#,
            #"if [ "$size" != \#(helper.size) ]; then rm -f -- "$f"; echo "error=size $size, expected \#(helper.size): is the host directory full?"; exit 0; fi"#,
            #"if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum -- "$f"); elif command -v shasum >/dev/null 2>&1; then sum=$(shasum -a 256 -- "$f"); elif command -v openssl >/dev/null 2>&1; then sum=$(openssl dgst -sha256 -r -- "$f"); else rm -f -- "$f"; echo "error=the host has no sha256sum, shasum or openssl to check the uploaded helper with"; exit 0; fi"#,
            #"sum=${sum%% *}"#,
            #"if [ "$sum" != \#(helper.sha256) ]; then rm -f -- "$f"; echo "error=SHA-256 $sum, expected \#(helper.sha256)"; exit 0; fi"#,
            #"if [ -d "$t" ] && [ ! -L "$t" ]; then rm -f -- "$f"; echo "error=$t is a directory"; exit 0; fi"#,
            #"chmod 700 -- "$f" && mv -f -T -- "$f" "$t" || exit 0; echo ok=1"#,
            #"case $(stat -f -c %T -- "${t%/*}" 2>/dev/null) in nfs*|cifs|smb*|fuse*|lustre|gpfs|ceph|9p|afs|unknown*|'') exit 0;; esac"#,
            #"r=$(for e in /proc/[0-9]*/exe; do readlink -- "$e"; done 2>/dev/null)"#,
            #"for o in "${t%/*}"/pss-host-*; do [ "$o" != "$t" ] && [ -f "$o" ] && [ ! -L "$o" ] || continue; printf '%s\n' "$r" | grep -Fxq -- "$o" || rm -f -- "$o"; done"#,
        ].joined(separator: "; ") + "\n"
    }
}
