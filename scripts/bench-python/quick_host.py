"""Starts the Python original (PyPI `mcp-oauth`, its QuickOAuthServerHost)
for scripts/bench, which measures it beside ours in the same run.

Usage: python quick_host.py PORT USERNAME PASSWORD

The host is used as its package ships it (in-memory storage, uvicorn at its
own log level); only its output is discarded by the caller.
"""

import sys

from mcp_oauth.server.quick_server import QuickOAuthServerHost


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: quick_host.py PORT USERNAME PASSWORD")
    port, username, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    host = QuickOAuthServerHost(
        oauth_host="127.0.0.1",
        oauth_port=port,
        superusername=username,
        superuserpassword=password,
    )
    host.run_oauth_server()


if __name__ == "__main__":
    main()
