// Vite build of the Storage Browser example. `npm run dev` also serves /config.json, read from the
// running dev stack (`make run`): the emulator's pool id and client id change with every start.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const emulatorUrl = process.env.TIPB_EMULATOR_URL ?? "http://127.0.0.1:9000";
const brokerUrl = process.env.TIPB_BROKER_URL ?? "http://127.0.0.1:8080";

function devStackConfig() {
  return {
    name: "tip-broker-dev-stack-config",
    configureServer(server) {
      server.middlewares.use("/config.json", async (_request, response) => {
        try {
          const emulator = await (await fetch(`${emulatorUrl}/_emulator/config`)).json();
          const config = {
            broker_url: brokerUrl,
            discovery_url: emulator.cognito.discovery_url,
            client_id: emulator.cognito.client_id,
            region: emulator.region,
            s3_endpoint: new URL(emulator.tls_endpoint_url).host,
          };
          response.setHeader("Content-Type", "application/json");
          response.end(JSON.stringify(config));
        } catch (error) {
          response.statusCode = 502;
          response.end(`cannot read ${emulatorUrl}/_emulator/config (is \`make run\` running?): ${error}`);
        }
      });
    },
  };
}

export default defineConfig({
  plugins: [react(), devStackConfig()],
  // Relative asset URLs: dist/ can be served from any path.
  base: "./",
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  build: { chunkSizeWarningLimit: 2048 },
});
