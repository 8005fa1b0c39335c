# Shared by scripts/conformance and scripts/interop (sourced, not run): start
# servers on loopback for a suite and wait for them. The caller sets `target`
# (the cargo target directory) and `work` (a scratch directory), and kills
# what `started` lists when it exits.

started=()

# An unused loopback port.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts the debug authorization server on a free port with memory storage
# and the given extra arguments; sets `issuer` once it listens.
start_as() {
    "$target/debug/mcp-oauth-server" --storage memory --port 0 --log-level warn "$@" \
        >"$work/as.out" 2>"$work/as.err" &
    started+=($!)
    issuer=""
    for _ in $(seq 1 100); do
        issuer=$(grep -m1 -o 'issuer http://127.0.0.1:[0-9]*' "$work/as.out" 2>/dev/null | cut -d' ' -f2 || true)
        [ -n "$issuer" ] && return 0
        sleep 0.1
    done
    echo "the authorization server did not start:" >&2
    cat "$work/as.err" >&2
    return 1
}

# Waits until an HTTP server answers at URL (any status).
wait_for_url() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "nothing answers at $1" >&2
    return 1
}

stop_started() {
    for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
}
