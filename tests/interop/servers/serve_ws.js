// Node's `ws` server: `node serve_ws.js PORT [keepalive|maxsize]`, with
// NODE_PATH pointing at the node_modules that holds `ws` (installed by the
// tier into a temporary folder).
//
// The same endpoints as the Python servers: /echo echoes every message as it
// came, /close/CODE closes at once with CODE and "scenario", /flood sends 50
// messages of 1000 bytes, then logs the close code when the socket ends.
//
// `ws` has no keepalive of its own: with `keepalive` this runs the heartbeat
// its README shows (a ping every 0.5 s; a client that has not answered the
// previous one by then is terminated: no close frame). With `maxsize` the
// largest message accepted is 1024 bytes (maxPayload).
//
// `ws` has no graceful shutdown either: wss.close() stops accepting but
// leaves open sockets open (ws 8). On SIGTERM this does what a server has
// to: wss.close(), then close every client with 1001; the process exits
// once they are gone.
"use strict";
const { WebSocketServer } = require("ws");

const FLOOD = 50;
const KEEPALIVE = 500; // ms: ping interval, and the time a pong has to come
const port = Number(process.argv[2]);
const mode = process.argv[3] || "";

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port,
  perMessageDeflate: true,
  ...(mode === "maxsize" ? { maxPayload: 1024 } : {}),
});

wss.on("connection", (ws, request) => {
  const path = request.url;
  ws.isAlive = true;
  ws.on("pong", () => {
    ws.isAlive = true;
  });
  if (path.startsWith("/close/")) {
    ws.close(Number(path.slice("/close/".length)), "scenario");
    return;
  }
  if (path === "/flood") {
    for (let n = 0; n < FLOOD; n++) {
      ws.send(String(n).padStart(4, "0") + "x".repeat(996));
    }
    ws.on("close", (code) => console.log(`flood ended: ${code}`));
  }
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});

if (mode === "keepalive") {
  const beat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!ws.isAlive) {
        ws.terminate();
        continue;
      }
      ws.isAlive = false;
      ws.ping();
    }
  }, KEEPALIVE);
  wss.on("close", () => clearInterval(beat));
}

process.on("SIGTERM", () => {
  wss.close();
  for (const ws of wss.clients) ws.close(1001);
});
