// Storage Browser's two data hooks answered by tip-broker: `listLocations` from GET /v1/grants and
// `getLocationCredentials` from POST /v1/credentials (S3 Access Grants credentials for that scope).

import { idToken, refresh } from "./auth.js";

export class BrokerError extends Error {
  constructor(status, problem) {
    super(`${problem.code}: ${problem.detail}`);
    this.name = "BrokerError";
    this.status = status;
    this.code = problem.code;
  }
}

async function call(config, method, path, body, retried = false) {
  const response = await fetch(`${config.broker_url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${idToken()}`,
      ...(body ? { "Content-Type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 204) return null;
  const answer = await response.json();
  if (response.ok) return answer;
  if (response.status === 401 && !retried && (await refresh(config))) {
    return call(config, method, path, body, true);
  }
  throw new BrokerError(response.status, answer);
}

// S3 Access Grants permission ↔ Storage Browser permissions, as the library's own managed adapter maps them.
const PERMISSIONS = {
  READ: ["get", "list"],
  WRITE: ["delete", "write"],
  READWRITE: ["delete", "get", "list", "write"],
};

export function toGrantPermission(permissions) {
  const read = permissions.some((p) => p === "get" || p === "list");
  const write = permissions.some((p) => p === "write" || p === "delete");
  if (read && write) return "READWRITE";
  if (write) return "WRITE";
  if (read) return "READ";
  throw new Error(`no S3 Access Grants permission covers ${JSON.stringify(permissions)}`);
}

/** Turn a grant into a Storage Browser location; null for a prefix that is not folder-like (`s3://b/pre*`). */
export function toLocation(grant) {
  const scope = grant.grant_scope;
  const path = scope.slice("s3://".length);
  const slash = path.indexOf("/");
  const bucket = slash < 0 ? path.replace(/\*$/, "") : path.slice(0, slash);
  const rest = slash < 0 ? "" : path.slice(slash + 1);
  let type;
  let prefix;
  if (rest === "*" || rest === "") {
    type = "BUCKET";
    prefix = "";
  } else if (rest.endsWith("*")) {
    type = "PREFIX";
    prefix = rest.slice(0, -1);
    if (!prefix.endsWith("/")) return null;
  } else {
    type = "OBJECT";
    prefix = rest;
  }
  return { id: `${scope}#${grant.permission}`, bucket, prefix, type, permissions: PERMISSIONS[grant.permission] };
}

export function createBrokerConfig(config, registerAuthListener) {
  return {
    region: config.region,
    customEndpoint: config.s3_endpoint,
    registerAuthListener,
    listLocations: async () => {
      const { grants } = await call(config, "GET", "/v1/grants");
      return { items: grants.map(toLocation).filter(Boolean), nextToken: undefined };
    },
    getLocationCredentials: async ({ scope, permissions }) => {
      const answer = await call(config, "POST", "/v1/credentials", {
        target: scope,
        permission: toGrantPermission(permissions),
      });
      return {
        credentials: {
          accessKeyId: answer.access_key_id,
          secretAccessKey: answer.secret_access_key,
          sessionToken: answer.session_token,
          expiration: new Date(answer.expiration),
        },
      };
    },
  };
}
