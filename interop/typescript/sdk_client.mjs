// The official MCP TypeScript SDK (@modelcontextprotocol/sdk) as a client of
// our stack. Its StreamableHTTPClientTransport, given an OAuthClientProvider,
// discovers our authorization server from the protected rmcp example server's
// 401, registers dynamically and sends the user to the authorization URL with
// PKCE; this script plays the browser there (login page, form with its CSRF
// cookie, redirect with `code`, `state`, `iss`), hands the code back with
// finishAuth, reconnects, lists the tools and calls one, which must report the
// logged-in user.
//
//     node sdk_client.mjs MCP_URL USERNAME PASSWORD
//
// Exits non-zero, with the reason, on any failure.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const REDIRECT_URI = "http://127.0.0.1:33419/callback";
const [mcpUrl, username, password] = process.argv.slice(2);
if (!password) {
  console.error("usage: node sdk_client.mjs MCP_URL USERNAME PASSWORD");
  process.exit(2);
}

/** Answers the authorization URL the way a person with a browser would. */
async function browse(authorizationUrl) {
  const page = await fetch(authorizationUrl, { redirect: "manual" });
  const html = await page.text();
  if (page.status !== 200 || !html.includes("<form")) {
    throw new Error(`no login page at the authorization URL: ${page.status}`);
  }
  const cookies = page.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const action = (html.match(/<form[^>]*action="([^"]*)"/) ?? [])[1] ?? "";
  const fields = new URLSearchParams();
  for (const input of html.matchAll(/<input[^>]*>/g)) {
    const name = (input[0].match(/name="([^"]*)"/) ?? [])[1];
    const value = (input[0].match(/value="([^"]*)"/) ?? [])[1] ?? "";
    if (name) fields.set(name, value.replaceAll("&amp;", "&"));
  }
  for (const required of ["request", "csrf", "username", "password"]) {
    if (!fields.has(required)) throw new Error(`login form lacks ${required}`);
  }
  fields.set("username", username);
  fields.set("password", password);
  const answer = await fetch(new URL(action, authorizationUrl), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookies },
    body: fields,
  });
  const location = answer.headers.get("location") ?? "";
  if (![302, 303].includes(answer.status) || !location.startsWith(REDIRECT_URI)) {
    throw new Error(`login was not accepted: ${answer.status} ${location}`);
  }
  const back = new URL(location).searchParams;
  if (back.get("error")) throw new Error(`authorization refused: ${back}`);
  if (back.get("state") !== authorizationUrl.searchParams.get("state")) {
    throw new Error("state in the redirect differs from the request's");
  }
  return back.get("code");
}

/** Keeps registration, tokens and the PKCE verifier for this run. */
class Provider {
  code = undefined;
  #client = undefined;
  #tokens = undefined;
  #verifier = undefined;
  get redirectUrl() { return REDIRECT_URI; }
  get clientMetadata() {
    return {
      client_name: "MCP TypeScript SDK (interop test)",
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() { return this.#client; }
  saveClientInformation(info) { this.#client = info; }
  tokens() { return this.#tokens; }
  saveTokens(tokens) { this.#tokens = tokens; }
  async redirectToAuthorization(url) { this.code = await browse(url); }
  saveCodeVerifier(verifier) { this.#verifier = verifier; }
  codeVerifier() { return this.#verifier; }
}

const provider = new Provider();
const connect = async () => {
  const client = new Client({ name: "ts-sdk-interop", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  return client;
};

let client;
try {
  client = await connect();
  throw new Error("the server let an unauthenticated client in");
} catch (e) {
  if (!(e instanceof UnauthorizedError) || !provider.code) throw e;
}
const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
await transport.finishAuth(provider.code);
client = await connect();
const names = (await client.listTools()).tools.map((t) => t.name).sort();
if (!names.includes("get_user_profile")) throw new Error(`tools listed: ${names}`);
const result = await client.callTool({ name: "get_user_profile", arguments: {} });
const text = result.content.map((c) => c.text ?? "").join(" ");
if (result.isError || !text.includes(username)) throw new Error(`get_user_profile answered: ${text}`);
console.log(`typescript-sdk: logged in as ${username}; tools ${names}; get_user_profile ok`);
await client.close();
