// The second seed flow's client: presign STS GetCallerIdentity with the AWS SDK's own SigV4
// signer (@smithy/signature-v4), send it as an `iam-v1.` proof to a token exchange, print the
// answer.
//
//   node presign_exchange.mjs EXCHANGE_URL AUDIENCE [--tamper]
//
// Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
// `--tamper` changes one character of the signature after signing. Prints one JSON line:
// `{"status": HTTP status, "answer": the exchange's JSON}`.
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';

const [exchangeUrl, audience, ...flags] = process.argv.slice(2);
const region = 'us-east-1';
const hostname = `sts.${region}.amazonaws.com`;

const signer = new SignatureV4({
  service: 'sts',
  region,
  sha256: Sha256,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
    sessionToken: process.env.AWS_SESSION_TOKEN || undefined,
  },
});
const presigned = await signer.presign(
  {
    method: 'GET',
    protocol: 'https:',
    hostname,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: hostname, 'x-iam-audience': audience },
  },
  { expiresIn: 60 },
);

// SigV4's URI encoding: RFC 3986 unreserved characters stay, everything else is %XX.
const encode = (text) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const query = Object.entries(presigned.query)
  .map(([name, value]) => `${encode(name)}=${encode(value)}`)
  .join('&');
let url = `https://${hostname}/?${query}`;
if (flags.includes('--tamper')) {
  url = url.replace(/(X-Amz-Signature=[0-9a-f]*)([0-9a-f])/, (_, head, last) => head + (last === '0' ? '1' : '0'));
}
const proof = 'iam-v1.' + Buffer.from(url).toString('base64url');

const response = await fetch(exchangeUrl, {
  method: 'POST',
  headers: { authorization: `Bearer ${proof}` },
});
console.log(JSON.stringify({ status: response.status, answer: await response.json() }));
