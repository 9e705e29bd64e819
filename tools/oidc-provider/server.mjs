// A real OpenID Connect provider for vidmocap's sign-in tests: panva's
// certified `oidc-provider` with its development login and consent pages,
// one confidential client, and test users whose `email_verified` each test
// chooses.
//
//   node tools/oidc-provider/server.mjs [port]
//
// Listens on 127.0.0.1 (port 0: any free one) and prints one line,
// `listening http://127.0.0.1:PORT`; that URL is the issuer. Until it is
// configured it answers 503, because the client's redirect URI names the
// service's port, which is only known once the service runs.
//
// Test control (not part of OpenID Connect; under /__test/):
//   POST /__test/configure {client_id, client_secret, redirect_uris, users,
//                           claims_in_id_token}
//        users: {"<login>": {"email": "...", "email_verified": true|false}}
//        (the login page takes any password; the login is the subject).
//        The email is answered by UserInfo, as the spec's default is;
//        claims_in_id_token: true puts it in the ID token too (as Google).
//   POST /__test/rotate   a new signing key (a new kid) for the same issuer,
//        as a provider rotating its keys does; answers {kid}.
//   POST /__test/tamper {"mode": "same_kid" | "other_kid" | null}
//        from then on the token endpoint's id_token is re-signed with a key
//        that is not the provider's (under the provider's kid, or under a
//        kid its JWKS does not have), payload untouched: a token signed by
//        another key, as a man in the middle would have to forge it.
//   GET  /__test/stats   {discovery, jwks, userinfo}: how often each was
//        fetched.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 0);
let settings = null;
let provider = null;
let signing = null;
let tamper = null;
const stats = { discovery: 0, jwks: 0, userinfo: 0 };
const impostor = await generateKeyPair('RS256');

async function newSigningKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = randomBytes(8).toString('hex');
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return jwk;
}

function build(issuer) {
  const p = new Provider(issuer, {
    clients: [{
      client_id: settings.client_id,
      client_secret: settings.client_secret,
      redirect_uris: settings.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [signing] },
    cookies: { keys: ['vidmocap-test-cookie-key'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    conformIdTokenClaims: !settings.claims_in_id_token,
    // The client must prove it started the flow (PKCE S256), as Google
    // lets a confidential client do; the service always sends it.
    pkce: { required: () => true },
    async findAccount(_ctx, sub) {
      const user = settings.users[sub];
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: user.email, email_verified: user.email_verified };
        },
      };
    },
  });
  // The id_token is rewritten after the provider made it (see the header).
  p.use(async (ctx, next) => {
    await next();
    if (tamper && ctx.path === '/token' && ctx.body && ctx.body.id_token) {
      const kid = tamper === 'same_kid' ? signing.kid : 'not-in-the-jwks';
      ctx.body.id_token = await new SignJWT(decodeJwt(ctx.body.id_token))
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .sign(impostor.privateKey);
    }
  });
  return p;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.on('data', (c) => { text += c; });
    req.on('end', () => {
      try { resolve(text ? JSON.parse(text) : {}); } catch (e) { reject(e); }
    });
  });
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = createServer(async (req, res) => {
  if (req.url.startsWith('/__test/')) {
    try {
      const body = await readJson(req);
      if (req.url === '/__test/stats') return answer(res, 200, stats);
      if (req.url === '/__test/configure') {
        settings = body;
        signing = signing || await newSigningKey();
      } else if (req.url === '/__test/rotate') {
        signing = await newSigningKey();
      } else if (req.url === '/__test/tamper') {
        tamper = body.mode || null;
        return answer(res, 200, { mode: tamper });
      } else {
        return answer(res, 404, { error: 'no such control' });
      }
      provider = build(issuer);
      return answer(res, 200, { kid: signing.kid });
    } catch (e) {
      return answer(res, 400, { error: String(e) });
    }
  }
  if (!provider) return answer(res, 503, { error: 'not configured yet' });
  const path = req.url.split('?')[0];
  if (path === '/jwks') stats.jwks += 1;
  if (path === '/.well-known/openid-configuration') stats.discovery += 1;
  if (path === '/me') stats.userinfo += 1;
  return provider.callback()(req, res);
});

let issuer;
server.listen(port, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  console.log(`listening ${issuer}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
