// Module resolution hook (node:module `register`): `isomorphic-ws`, the WebSocket the stock
// automerge-repo adapter imports, becomes browser-websocket.mjs (a `ws` socket that sends the
// cookie and the Origin, as a browser would).
const browserSocket = new URL("./browser-websocket.mjs", import.meta.url).href

export async function resolve(specifier, context, nextResolve) {
  if (specifier === "isomorphic-ws") return { url: browserSocket, shortCircuit: true }
  return nextResolve(specifier, context)
}
