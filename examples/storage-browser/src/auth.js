// Sign-in at the OIDC issuer with the authorization-code flow + PKCE (S256), as Cognito's hosted UI
// offers it; the ID token is what the broker takes as `Authorization: Bearer`.

const store = window.sessionStorage;
const listeners = new Set();

function base64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const randomToken = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
const redirectUri = () => `${window.location.origin}${window.location.pathname}`;

async function discover(config) {
  const response = await fetch(`${config.discovery_url}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`);
  return response.json();
}

export async function signIn(config) {
  const verifier = randomToken();
  const state = randomToken();
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  store.setItem("pkce", JSON.stringify({ verifier, state }));
  const url = new URL((await discover(config)).authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: "openid email",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  window.location.assign(url.toString());
}

async function token(config, body) {
  const response = await fetch((await discover(config)).token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: config.client_id, ...body }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${answer.error}: ${answer.error_description}`);
  store.setItem("id_token", answer.id_token);
  if (answer.refresh_token) store.setItem("refresh_token", answer.refresh_token);
}

/** Redeem the authorization code when the issuer redirected back here; true when signed in. */
export async function completeSignIn(config) {
  const params = new URLSearchParams(window.location.search);
  if (params.has("code") || params.has("error")) {
    const pending = JSON.parse(store.getItem("pkce") ?? "null");
    store.removeItem("pkce");
    window.history.replaceState(null, "", redirectUri());
    if (params.has("error")) throw new Error(`${params.get("error")}: ${params.get("error_description")}`);
    // The code must answer the request this tab made (RFC 6749 §10.12).
    if (!pending || params.get("state") !== pending.state) throw new Error("sign-in answer does not match");
    await token(config, {
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    });
  }
  return store.getItem("id_token") !== null;
}

export async function refresh(config) {
  const refreshToken = store.getItem("refresh_token");
  if (!refreshToken) return false;
  try {
    await token(config, { grant_type: "refresh_token", refresh_token: refreshToken });
    return true;
  } catch {
    return false;
  }
}

export const idToken = () => store.getItem("id_token");

export function username() {
  const payload = JSON.parse(atob(idToken().split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  return payload["cognito:username"] ?? payload.email ?? payload.sub;
}

/** Storage Browser's `registerAuthListener`: told on sign-out, so it drops every cached credential. */
export function registerAuthListener(onStateChange) {
  listeners.add(onStateChange);
}

export function signOut() {
  store.clear();
  for (const listener of listeners) listener();
}
