# Starts a throwaway sshd on loopback with fresh keys, for scripts/demo and scripts/bench.
# Source it, then call: sandbox_start DIR   (sets SANDBOX_PORT, writes DIR/ssh_config with Host "sandbox")
#                       sandbox_stop DIR
# The tests have their own fixture (Tests/TestSupport/SSHServer.swift) with more knobs; both fill in
# Config/sshd_config.test.

SANDBOX_CONFIG_TEMPLATE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/Config/sshd_config.test"

sandbox_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

sandbox_start() {
    local dir="$1"
    mkdir -p "$dir/host-state" "$dir/authorized_keys" /run/sshd
    chmod 700 "$dir"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519" -C sandbox-host
    ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519" -C sandbox-user
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys/$(id -un)"
    SANDBOX_PORT=$(sandbox_free_port)
    # Config/sshd_config.test, shared with the tests' fixture.
    sed -e "s|@PORT@|$SANDBOX_PORT|" -e "s|@DIR@|$dir|g" -e "s|@USE_PAM@|no|" -e "s|@PASSWORD@|no|" \
        -e "s|@KBDINT@|no|" -e "s|@HOST_KEYS@|HostKey $dir/host_ed25519|" -e "s|@EXTRA@||" \
        -e "s|@USER@|$(id -un)|" -e "s|@HOST_DIR@|$dir/host-state|" -e "s|@SETENV@||" \
        "$SANDBOX_CONFIG_TEMPLATE" > "$dir/sshd_config"
    echo "[127.0.0.1]:$SANDBOX_PORT $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" > "$dir/known_hosts"
    cat > "$dir/ssh_config" <<CONF
Host sandbox
    HostName 127.0.0.1
    Port $SANDBOX_PORT
    User $(id -un)
    IdentityFile $dir/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $dir/known_hosts
    StrictHostKeyChecking yes
    # pss keeps its connection while it holds a session here, then 10 minutes unless told: 5 s here, so that
    # nothing outlives the demo or the benchmark.
    ControlPersist 5
CONF
    /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
    echo $! > "$dir/sshd.pid.fg"
    # Wait for the listening socket rather than sleeping a fixed time.
    local tries=0
    until (exec 3<>"/dev/tcp/127.0.0.1/$SANDBOX_PORT") 2>/dev/null; do
        tries=$((tries + 1))
        if [ $tries -gt 200 ]; then echo "sshd did not start; see $dir/sshd.log" >&2; return 1; fi
        sleep 0.05
    done
}

sandbox_stop() {
    local dir="$1"
    [ -f "$dir/sshd.pid.fg" ] && kill "$(cat "$dir/sshd.pid.fg")" 2>/dev/null
    rm -f "$dir/sshd.pid.fg"
}
