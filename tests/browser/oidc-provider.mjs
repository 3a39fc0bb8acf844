// A real OpenID provider for the tests (oidc-provider, OpenID Certified),
// on loopback over HTTPS with the test certificate. Test users sign in with
// their name and any password; their groups are in the ID token.
//
// node oidc-provider.mjs PORT CERT_PEM KEY_PEM REDIRECT_URL POST_LOGOUT_URL
import https from 'node:https';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const [port, certFile, keyFile, redirect, postLogout] = process.argv.slice(2);
const issuer = `https://localhost:${port}`;

const users = {
  karin: { email: 'iop-ansvarig@example.org', email_verified: true, name: 'Karin Sjöberg', groups: ['iop-samordning'] },
  olle: { email: 'Olle@Example.org', email_verified: true, name: 'Olle Officer', groups: ['handlaggare', 'alla-anstallda'] },
  revisor: { email: 'revisor@example.org', email_verified: true, name: 'Rut Revisor', groups: ['revision'] },
  gast: { email: 'gast@example.org', email_verified: true, name: 'Gäst', groups: ['alla-anstallda'] },
  overifierad: { email: 'iop-ansvarig@example.org', email_verified: false, name: 'Falsk', groups: ['iop-samordning'] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'iopd',
    client_secret: 'test-client-secret',
    redirect_uris: [redirect],
    post_logout_redirect_uris: [postLogout],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub', 'groups'], email: ['email', 'email_verified'], profile: ['name'] },
  // The claims go in the ID token, as Entra ID puts `groups` there.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['iopd-test-provider-cookie-key'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, sub) {
    if (!users[sub]) return undefined;
    return { accountId: sub, async claims() { return { sub, ...users[sub] }; } };
  },
});

const server = https.createServer(
  { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
  provider.callback(),
);
server.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
