"""The official MCP Python SDK (`pip install mcp`) as a client of our stack.

`mcp.client.auth.OAuthClientProvider` discovers our authorization server from
the protected rmcp example server's 401, registers dynamically, authorizes with
PKCE and `resource`, and redeems the code; this script plays the browser in
between (it fetches the login page, posts the form with its CSRF cookie and
hands the redirect's `code`, `state` and `iss` back to the SDK). Then it lists
the tools and calls one, which must report the logged-in user.

    python sdk_client.py MCP_URL USERNAME PASSWORD

Exits non-zero, with the reason, on any failure.
"""

import asyncio
import html.parser
import sys
import urllib.parse

import httpx2
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT_URI = "http://127.0.0.1:33418/callback"


class MemoryStorage:
    """Tokens and registration kept for this run only."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class LoginForm(html.parser.HTMLParser):
    """The action and fields of the first form on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action") or ""
        elif tag == "input" and a.get("name"):
            self.fields[a["name"] or ""] = a.get("value") or ""


class Browser:
    """Answers the authorization URL the way a person with a browser would."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.result: AuthorizationCodeResult | None = None

    async def open(self, authorization_url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as http:
            page = await http.get(authorization_url)
            if page.status_code != 200 or "<form" not in page.text:
                raise RuntimeError(f"no login page at the authorization URL: {page.status_code}")
            form = LoginForm()
            form.feed(page.text)
            if not {"request", "csrf", "username", "password"} <= form.fields.keys():
                raise RuntimeError(f"unexpected login form fields: {sorted(form.fields)}")
            form.fields.update(username=self.username, password=self.password)
            action = urllib.parse.urljoin(authorization_url, form.action or "")
            answer = await http.post(action, data=form.fields)
            if answer.status_code not in (302, 303):
                raise RuntimeError(f"login was not accepted: {answer.status_code} {answer.text[:200]}")
            location = answer.headers["location"]
            if not location.startswith(REDIRECT_URI):
                raise RuntimeError(f"redirected elsewhere: {location}")
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
            if "error" in query:
                raise RuntimeError(f"authorization refused: {query}")
            self.result = AuthorizationCodeResult(
                code=query["code"][0],
                state=query.get("state", [None])[0],
                iss=query.get("iss", [None])[0],
            )

    async def callback(self) -> AuthorizationCodeResult:
        if self.result is None:
            raise RuntimeError("the authorization URL was never answered")
        return self.result


async def main(mcp_url: str, username: str, password: str) -> None:
    browser = Browser(username, password)
    provider = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="MCP Python SDK (interop test)",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=MemoryStorage(),
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    http = create_mcp_http_client(auth=provider)
    async with http, streamable_http_client(mcp_url, http_client=http) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = sorted(t.name for t in (await session.list_tools()).tools)
            if "get_user_profile" not in names:
                raise RuntimeError(f"tools listed: {names}")
            result = await session.call_tool("get_user_profile", {})
            text = " ".join(getattr(c, "text", "") for c in result.content)
            if result.is_error or username not in text:
                raise RuntimeError(f"get_user_profile answered: {text}")
            print(f"python-sdk: logged in as {username}; tools {names}; get_user_profile ok")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main(*sys.argv[1:]))
