// AWS's Storage Browser for S3 wired to tip-broker (see ../README.md).
import React from "react";
import { createRoot } from "react-dom/client";
import { Amplify } from "aws-amplify";
import { createStorageBrowser } from "@aws-amplify/ui-react-storage/browser";
import "@aws-amplify/ui-react-storage/styles.css";

import { completeSignIn, registerAuthListener, signIn, signOut, username } from "./auth.js";
import { createBrokerConfig } from "./broker.js";

function SignedOut({ config, error }) {
  return (
    <main className="sign-in">
      <h1>Storage Browser for S3</h1>
      {error ? <p role="alert">{error}</p> : null}
      <button type="button" onClick={() => signIn(config)}>
        Sign in
      </button>
    </main>
  );
}

function App({ config, StorageBrowser }) {
  const [signedIn, setSignedIn] = React.useState(true);
  if (!signedIn) return <SignedOut config={config} />;
  return (
    <main>
      <header style={{ display: "flex", justifyContent: "space-between", alignItems: "baseline" }}>
        <h1>Storage Browser for S3</h1>
        <span>
          Signed in as <strong id="username">{username()}</strong>{" "}
          <button
            type="button"
            onClick={() => {
              signOut();
              setSignedIn(false);
            }}
          >
            Sign out
          </button>
        </span>
      </header>
      <StorageBrowser />
    </main>
  );
}

async function start() {
  const root = createRoot(document.getElementById("root"));
  const config = await (await fetch("config.json")).json();
  let signedIn = false;
  let error = null;
  try {
    signedIn = await completeSignIn(config);
  } catch (err) {
    error = `Sign-in failed: ${err.message}`;
  }
  if (!signedIn) {
    root.render(<SignedOut config={config} error={error} />);
    return;
  }
  // The Storage APIs underneath read Amplify's global context; every value they use comes from the
  // broker config below, so it is configured empty (no Amplify Auth, no Amplify-managed bucket).
  Amplify.configure({});
  const { StorageBrowser } = createStorageBrowser({ config: createBrokerConfig(config, registerAuthListener) });
  root.render(<App config={config} StorageBrowser={StorageBrowser} />);
}

start();
