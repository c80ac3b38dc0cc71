// tip-broker demo page: sign in with the authorization-code flow + PKCE, list my grants, browse through
// presigned listings, download through presigned GET, upload through presigned POST. No AWS credentials
// ever reach this page: the broker signs every S3 request for it.

const $ = (id) => document.getElementById(id);
const store = window.sessionStorage; // per tab, gone with it: a demo's trade-off, see README
let config;
let current = null; // { bucket, prefix, writable }

// --- messages --------------------------------------------------------------------------------------

function showError(text) {
  $("notice").hidden = true;
  $("error").textContent = text;
  $("error").hidden = false;
}

function showNotice(text) {
  $("error").hidden = true;
  $("notice").textContent = text;
  $("notice").hidden = false;
}

function clearMessages() {
  $("error").hidden = true;
  $("notice").hidden = true;
}

class BrokerError extends Error {
  constructor(status, code, detail) {
    super(`${code}: ${detail}`);
    this.status = status;
    this.code = code;
  }
}

class S3Error extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.s3Message = message;
  }
}

function explain(err, what) {
  if (err instanceof BrokerError) {
    if (err.code === "access_denied" || err.code === "scope_not_granted") {
      return `Refused: you have no grant for ${what} (${err.message}).`;
    }
    if (err.status === 401) return `Your sign-in is no longer valid (${err.message}). Sign in again.`;
    return `The broker refused ${what}: ${err.message}`;
  }
  if (err instanceof S3Error) {
    if (/expired/i.test(err.s3Message) || err.code === "ExpiredToken") {
      return `The link for ${what} has expired (${err.message}). Try again for a fresh one.`;
    }
    return `S3 refused ${what}: ${err.message}`;
  }
  return `Could not reach the service for ${what}: ${err.message}`;
}

// --- sign-in: authorization code + PKCE ------------------------------------------------------------

function base64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomToken() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function discovery() {
  const response = await fetch(`${config.discovery_url}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`);
  return response.json();
}

function redirectUri() {
  return `${window.location.origin}/`;
}

async function signIn() {
  const verifier = randomToken();
  const state = randomToken();
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  store.setItem("pkce_verifier", verifier);
  store.setItem("pkce_state", state);
  const { authorization_endpoint: endpoint } = await discovery();
  const url = new URL(endpoint);
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

async function tokenRequest(body) {
  const { token_endpoint: endpoint } = await discovery();
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: config.client_id, ...body }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${answer.error}: ${answer.error_description}`);
  store.setItem("id_token", answer.id_token);
  if (answer.refresh_token) store.setItem("refresh_token", answer.refresh_token);
}

async function finishSignIn(params) {
  const expected = store.getItem("pkce_state");
  const verifier = store.getItem("pkce_verifier");
  store.removeItem("pkce_state");
  store.removeItem("pkce_verifier");
  // The code must answer the request this tab made (RFC 6749 §10.12): anything else is dropped.
  window.history.replaceState(null, "", redirectUri());
  if (params.get("error")) throw new Error(`${params.get("error")}: ${params.get("error_description")}`);
  if (!expected || params.get("state") !== expected) throw new Error("sign-in answer does not match this tab");
  await tokenRequest({
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: redirectUri(),
    code_verifier: verifier,
  });
}

async function refreshIdToken() {
  const refreshToken = store.getItem("refresh_token");
  if (!refreshToken) return false;
  try {
    await tokenRequest({ grant_type: "refresh_token", refresh_token: refreshToken });
    return true;
  } catch {
    return false;
  }
}

function claims(token) {
  const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload));
}

// --- the broker ------------------------------------------------------------------------------------

async function broker(method, path, body, retried = false) {
  const response = await fetch(`${config.broker_url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${store.getItem("id_token")}`,
      ...(body ? { "Content-Type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 204) return null;
  const answer = await response.json();
  if (response.ok) return answer;
  // An expired ID token: the IdP's refresh token gets a fresh one, once.
  if (response.status === 401 && !retried && (await refreshIdToken())) {
    return broker(method, path, body, true);
  }
  throw new BrokerError(response.status, answer.code, answer.detail);
}

async function s3Failure(response) {
  const text = await response.text();
  const xml = new DOMParser().parseFromString(text, "application/xml");
  const code = xml.querySelector("Error > Code")?.textContent ?? `HTTP ${response.status}`;
  const message = xml.querySelector("Error > Message")?.textContent ?? response.statusText;
  return new S3Error(response.status, code, message);
}

// --- grants and browsing ---------------------------------------------------------------------------

function parseLocation(uri) {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri.trim());
  if (!match) return null;
  return { bucket: match[1], prefix: match[2].replace(/\*$/, "") };
}

async function loadGrants() {
  const { grants } = await broker("GET", "/v1/grants");
  const list = $("grants");
  list.replaceChildren();
  for (const grant of grants) {
    const item = document.createElement("li");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "grant";
    open.textContent = grant.grant_scope;
    open.addEventListener("click", () => browseGrant(grant));
    const permission = document.createElement("span");
    permission.className = "permission";
    permission.textContent = grant.permission;
    item.append(open, permission);
    list.append(item);
  }
  if (grants.length === 0) list.textContent = "No grants.";
}

function browseGrant(grant) {
  const location = parseLocation(grant.grant_scope);
  const writable = grant.permission !== "READ";
  if (!grant.grant_scope.endsWith("*")) {
    // An object grant: nothing to list, the object itself is the whole location.
    const key = location.prefix;
    const name = key.slice(key.lastIndexOf("/") + 1);
    renderListing(location.bucket, key.slice(0, key.length - name.length), [], [{ key, size: null }], false);
    return;
  }
  if (grant.permission === "WRITE") {
    // Listing needs READ: a write-only grant can take uploads but shows nothing.
    renderListing(location.bucket, location.prefix, [], [], true);
    showNotice("This grant is write-only: you can upload here but not list or download.");
    return;
  }
  browse(location.bucket, location.prefix, writable);
}

function decodeKey(text) {
  // encoding-type=url: S3 encodes keys as application/x-www-form-urlencoded.
  return decodeURIComponent(text.replace(/\+/g, " "));
}

async function browse(bucket, prefix, writable = true) {
  clearMessages();
  $("location").value = `s3://${bucket}/${prefix}`;
  let presigned;
  try {
    presigned = await broker("POST", "/v1/presign/list", { bucket, prefix });
  } catch (err) {
    clearListing();
    showError(explain(err, `listing s3://${bucket}/${prefix}`));
    return;
  }
  try {
    const response = await fetch(presigned.url);
    if (!response.ok) throw await s3Failure(response);
    const xml = new DOMParser().parseFromString(await response.text(), "application/xml");
    const folders = [...xml.querySelectorAll("CommonPrefixes > Prefix")].map((p) => decodeKey(p.textContent));
    const files = [...xml.querySelectorAll("Contents")].map((c) => ({
      key: decodeKey(c.querySelector("Key").textContent),
      size: Number(c.querySelector("Size").textContent),
    }));
    renderListing(bucket, prefix, folders, files.filter((f) => f.key !== prefix), writable);
  } catch (err) {
    clearListing();
    showError(explain(err, `listing s3://${bucket}/${prefix}`));
  }
}

function clearListing() {
  current = null;
  $("current").hidden = true;
  $("listing").hidden = true;
  $("upload").hidden = true;
}

function renderListing(bucket, prefix, folders, files, writable) {
  current = { bucket, prefix, writable };
  $("current-uri").textContent = `s3://${bucket}/${prefix}`;
  $("current").hidden = false;
  const body = $("listing").querySelector("tbody");
  body.replaceChildren();
  for (const folder of folders) {
    const row = body.insertRow();
    const open = document.createElement("button");
    open.type = "button";
    open.className = "folder";
    open.textContent = `${folder.slice(prefix.length)}`;
    open.addEventListener("click", () => browse(bucket, folder, writable));
    row.insertCell().append(open);
    row.insertCell();
    row.insertCell();
  }
  for (const file of files) {
    const row = body.insertRow();
    row.className = "file";
    row.dataset.key = file.key;
    row.insertCell().textContent = file.key.slice(prefix.length);
    const size = row.insertCell();
    size.className = "size";
    size.textContent = file.size === null ? "" : String(file.size);
    const download = document.createElement("button");
    download.type = "button";
    download.className = "download";
    download.textContent = "Download";
    download.addEventListener("click", () => downloadFile(bucket, file.key));
    row.insertCell().append(download);
  }
  $("listing").hidden = false;
  $("upload").hidden = !writable;
}

async function downloadFile(bucket, key) {
  clearMessages();
  const name = key.slice(key.lastIndexOf("/") + 1);
  try {
    const presigned = await broker("POST", "/v1/presign", { bucket, key, method: "GET" });
    // Fetched rather than navigated to, so an S3 refusal (denied, expired) can be shown here.
    const response = await fetch(presigned.url);
    if (!response.ok) throw await s3Failure(response);
    const blob = await response.blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    showNotice(`Downloaded ${name} (${blob.size} bytes).`);
  } catch (err) {
    showError(explain(err, `downloading s3://${bucket}/${key}`));
  }
}

function postForm(url, fields, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append("file", file); // S3 ignores every field after the file
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((100 * event.loaded) / event.total));
    });
    request.addEventListener("load", () => resolve(request));
    request.addEventListener("error", () => reject(new Error("network error during the upload")));
    request.send(form);
  });
}

async function upload(event) {
  event.preventDefault();
  clearMessages();
  const file = $("file").files[0];
  if (!file || !current) return;
  const { bucket, prefix } = current;
  const progress = $("progress");
  progress.value = 0;
  progress.hidden = false;
  try {
    const target = prefix ? { key_prefix: prefix } : { key: file.name };
    const form = await broker("POST", "/v1/presign/post", { bucket, ...target });
    const answer = await postForm(form.url, form.fields, file, (percent) => {
      progress.value = percent;
    });
    if (answer.status >= 300) {
      throw await s3Failure(new Response(answer.responseText, { status: answer.status }));
    }
    progress.value = 100;
    await browse(bucket, prefix, true);
    showNotice(`Uploaded ${file.name} to s3://${bucket}/${prefix}${file.name}.`);
  } catch (err) {
    showError(explain(err, `uploading to s3://${bucket}/${prefix}`));
  }
}

// --- start -----------------------------------------------------------------------------------------

async function signOut() {
  try {
    await broker("DELETE", "/v1/session");
  } finally {
    store.clear();
    window.location.assign(redirectUri());
  }
}

async function start() {
  config = await (await fetch("config.json")).json();
  $("sign-in").addEventListener("click", () => signIn().catch((err) => showError(`Sign-in failed: ${err.message}`)));
  $("sign-out").addEventListener("click", signOut);
  $("upload").addEventListener("submit", upload);
  $("goto").addEventListener("submit", (event) => {
    event.preventDefault();
    const location = parseLocation($("location").value);
    if (location) browse(location.bucket, location.prefix);
    else showError("Enter a location as s3://bucket/prefix/");
  });

  const params = new URLSearchParams(window.location.search);
  if (params.has("code") || params.has("error")) {
    try {
      await finishSignIn(params);
    } catch (err) {
      showError(`Sign-in failed: ${err.message}`);
    }
  }
  const token = store.getItem("id_token");
  if (!token) {
    $("signed-out").hidden = false;
    return;
  }
  const who = claims(token);
  $("username").textContent = who["cognito:username"] ?? who.email ?? who.sub;
  $("who").hidden = false;
  $("signed-in").hidden = false;
  try {
    await loadGrants();
  } catch (err) {
    showError(explain(err, "listing your grants"));
  }
}

start();
