// An independent OpenID provider for the federation tests: panva's
// `oidc-provider` (OpenID Certified) with just enough configuration to act as
// a company IdP on loopback. Started by scripts/oidc-provider:
//
//   node provider.mjs PORT        (or PORT in the environment)
//
// Issuer http://127.0.0.1:PORT (no trailing slash). Open dynamic client
// registration, so every test registers its own client. A one-field login
// form instead of the library's development pages, so a test can sign in as
// alice, bob or carol with one POST, or refuse; consent is given at once.
// With EXIT_WITH_PID set it exits when that process does, so the test
// script that started it need not clean up. Everything (clients, sessions,
// codes) lives in memory, in the library's development adapter, which warns
// so at start: a restart forgets it all, as tests want.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node provider.mjs PORT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

// The people who can sign in. `claims` returns everything; oidc-provider
// hands out only what the granted scopes (the `claims` table below) allow.
const people = {
  alice: {
    email: 'alice@example.com', email_verified: true, name: 'Alice Example',
    groups: ['mcp-users', 'staff'],
  },
  bob: { email: 'bob@other.test', email_verified: true, name: 'Bob Other', groups: [] },
  carol: {
    email: 'carol@example.com', email_verified: false, name: 'Carol Unverified',
    groups: ['mcp-users'],
  },
};

function findAccount(_ctx, id) {
  const person = Object.hasOwn(people, id) ? people[id] : undefined;
  if (!person) return undefined;
  return { accountId: id, claims: async () => ({ sub: id, ...person }) };
}

// Fresh signing keys each start: RS256 (what clients get by default) and
// ES256 (for a client that registers id_token_signed_response_alg ES256).
function signingKey(alg, type, options) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg}-${randomBytes(6).toString('hex')}` };
}
const jwks = {
  keys: [
    signingKey('RS256', 'rsa', { modulusLength: 2048 }),
    signingKey('ES256', 'ec', { namedCurve: 'P-256' }),
  ],
};

const provider = new Provider(issuer, {
  findAccount,
  jwks,
  // Scope -> claims. `groups` is our own scope, as many company IdPs have.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  // Signed cookies (koa signs whenever keys are set). They are not marked
  // Secure on plain http, which is what loopback needs.
  cookies: { keys: ['mcp-oauth interop cookie key, not a secret'] },
  features: {
    // Our own pages below instead of the library's development ones.
    devInteractions: { enabled: false },
    // Open registration: no initial access token.
    registration: { enabled: true },
  },
  // A plain page instead of the default one (which loads a web font).
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>error</title><pre>${escape(JSON.stringify(out, null, 2))}</pre>`;
  },
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// One line per request on stderr.
provider.use(async (ctx, next) => {
  await next();
  console.error(`${ctx.method} ${ctx.path} -> ${ctx.status}`);
});

// The interaction pages, at the library's default interactions.url:
//   GET  /interaction/UID        the login form; or, when the prompt is
//                                consent, consent given at once (303 back)
//   POST /interaction/UID/login  login=NAME signs NAME in
//   POST /interaction/UID/abort  the person refuses: access_denied
provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([\w-]+)(?:\/(login|abort))?$/.exec(ctx.path);
  if (!m) return next();
  const [, uid, action] = m;
  const expected = action ? 'POST' : 'GET';
  if (ctx.method !== expected) {
    ctx.status = 405;
    return undefined;
  }
  ctx.set('cache-control', 'no-store');
  // The interaction is found through its cookie (scoped to the path
  // /interaction/UID), not through the UID in the path.
  let interaction;
  try {
    interaction = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    return page(ctx, 400, `no sign-in in progress: ${escape(err.error_description ?? err.message)}`);
  }
  if (interaction.uid !== uid) {
    return page(ctx, 400, 'this is not the current sign-in');
  }
  const finish = async (result, merge) => {
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.redirect(to);
    ctx.status = 303;
  };

  if (action === 'abort') {
    return finish({ error: 'access_denied', error_description: 'the user refused' }, false);
  }
  const prompt = interaction.prompt.name;
  if (action === 'login') {
    if (prompt !== 'login') return page(ctx, 400, `no login expected (prompt ${prompt})`);
    const login = new URLSearchParams(await body(ctx.req)).get('login') ?? '';
    if (!findAccount(ctx, login)) return page(ctx, 400, `unknown account ${escape(login)}`);
    return finish({ login: { accountId: login } }, false);
  }
  if (prompt === 'consent') {
    return finish({ consent: { grantId: await autoGrant(interaction) } }, true);
  }
  if (prompt !== 'login') return page(ctx, 400, `unexpected prompt ${escape(prompt)}`);
  const client = await provider.Client.find(interaction.params.client_id);
  return page(ctx, 200, `<h1>Sign in to ${escape(client?.clientName ?? interaction.params.client_id)}</h1>
<form method="post" action="/interaction/${uid}/login">
<label>Account <input name="login" autofocus></label> <button>Sign in</button>
</form>
<form method="post" action="/interaction/${uid}/abort"><button>Cancel</button></form>`);
});

// Consent to everything the client asked for: the scopes, claims and
// resource scopes the consent prompt reports missing, on the person's grant
// for this client (a new one, or the one the interaction already has).
async function autoGrant(interaction) {
  const { prompt: { details }, params, session: { accountId }, grantId } = interaction;
  const grant = (grantId && await provider.Grant.find(grantId))
    || new provider.Grant({ accountId, clientId: params.client_id });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  return grant.save();
}

function page(ctx, status, html) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>oidc-provider</title></head><body>${html}</body></html>`;
}

// The urlencoded body of a form post (small; capped at 64 KiB).
async function body(req) {
  let data = '';
  for await (const chunk of req) {
    data += chunk;
    if (data.length > 65536) throw new Error('form too large');
  }
  return data;
}

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
server.on('error', (err) => {
  console.error(err.message);
  process.exit(1);
});

// Exit with the process that started us (scripts/test), checked each second.
const parent = Number(process.env.EXIT_WITH_PID);
if (parent > 0) {
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch (err) {
      if (err.code === 'ESRCH') process.exit(0);
    }
  }, 1000);
}
