# Shared by the bench-*.sh scripts (sourced): a work dir removed on exit with the servers
# started into `pids`, and waiting for a server's port.
work="$(mktemp -d)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Waits (up to 20 s) for a line of $1 matching $2 and prints the port it names.
port_from() {
    for _ in $(seq 400); do
        if port=$(grep -oE "$2" "$1" | grep -oE '[0-9]+$' | head -1) && [[ -n "$port" ]]; then
            echo "$port"
            return
        fi
        sleep 0.05
    done
    echo "no port in $1:" >&2
    cat "$1" >&2
    exit 1
}
