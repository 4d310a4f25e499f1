// Verifies a JWT with npm `jose` against the issuer's discovery document and JWKS.
//
//   node verify_jose.mjs ISSUER AUDIENCE < token
//
// The token comes on standard input (never in argv). Prints one JSON line: `{"sub": ...}` and
// exits 0 when the token verifies (RS256 only, `iss`, `aud`, `exp`), or `{"error": CODE}` and
// exits 1.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { readFileSync } from 'node:fs';

const [issuer, audience] = process.argv.slice(2);
const token = readFileSync(0, 'utf8').trim();
const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
try {
  const { payload } = await jwtVerify(token, jwks, { issuer, audience, algorithms: ['RS256'] });
  console.log(JSON.stringify({ sub: payload.sub }));
} catch (error) {
  console.log(JSON.stringify({ error: error.code || String(error) }));
  process.exit(1);
}
