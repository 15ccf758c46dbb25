// A stock automerge-repo client (no Baoming code) syncing a registration draft with the server,
// authenticated the way a browser page is: by the sync cookie, which POST /api/sync/cookie sets
// and the page's WebSocket then sends by itself, with the page's Origin (browser-websocket.mjs
// does that for Node's `ws`). The adapter reconnects with its fixed URL whenever the connection
// drops; the cookie authenticates every reconnection.
//
// Usage: node stock-client.mjs <http-base-url> <bearer-token> <document-id>
// Reads one JSON command a line on standard input and prints one JSON line per step:
//   {"cmd":"wait","field":f,"value":v}  until draft.fields[f] is v   → {"step":"received",…}
//   {"cmd":"edit","field":f,"value":v}  an answer (ImmutableString)  → {"step":"edited",…}
//   {"cmd":"text","field":f,"value":v}  a text object, which the server refuses without
//                                       telling (this client does not announce that it
//                                       reads refusals)           → {"step":"edited",…}
//   {"cmd":"drop"}                      cut the connection           → {"step":"dropped"}
//   {"cmd":"quit"}                                                    → {"step":"done",…}
// and {"step":"connected","connections":n} whenever a socket opens.
import { register } from "node:module"
import { createInterface } from "node:readline"

// Before the adapter is loaded: its `isomorphic-ws` becomes the browser-like socket.
register("./browser-websocket-hooks.mjs", import.meta.url)
const { browser } = await import("./browser-websocket.mjs")
const { Repo } = await import("@automerge/automerge-repo")
const { WebSocketClientAdapter } = await import("@automerge/automerge-repo-network-websocket")
const { ImmutableString } = await import("@automerge/automerge")

const [httpBase, token, documentId] = process.argv.slice(2)
const say = (o) => console.log(JSON.stringify(o))

// The page asks for the cookie with its bearer token; the browser keeps it (HttpOnly).
const answer = await fetch(`${httpBase}/api/sync/cookie`, {
  method: "POST",
  headers: { authorization: `Bearer ${token}` },
})
const setCookie = answer.headers.getSetCookie()[0] ?? ""
browser.cookie = setCookie.split(";")[0]
browser.origin = httpBase
say({ step: "cookie", status: answer.status, name: browser.cookie.split("=")[0] })

// The stock adapter, reconnecting every half second after a drop.
const adapter = new WebSocketClientAdapter(`${httpBase.replace(/^http/, "ws")}/api/sync`, 500)
let opened = 0
const watchers = new Set()
const changed = () => watchers.forEach((w) => w())
// A stock client does not announce Baoming's refusal message, so the server never sends it one.
let refusalFrames = 0
adapter.on("message", (m) => {
  if (m.type === "baoming-refused") refusalFrames += 1
})
browser.onOpen = () => say({ step: "connected", connections: ++opened })
const repo = new Repo({ network: [adapter], sharePolicy: async () => true })
const handle = await repo.find(`automerge:${documentId}`)
handle.on("change", changed)
const doc = handle.doc()
say({ step: "found", exam: String(doc.exam), status: doc.server?.status === undefined ? null : String(doc.server.status) })

// Resolves once `ready()` holds, checked now and after every change or refusal.
const until = (ready) =>
  new Promise((resolve) => {
    const check = () => {
      if (ready()) {
        watchers.delete(check)
        resolve()
      }
    }
    watchers.add(check)
    check()
  })
const field = (name) => {
  const value = handle.doc().draft?.fields?.[name]
  return value === undefined ? undefined : String(value)
}

let last = null
for await (const line of createInterface({ input: process.stdin })) {
  const c = JSON.parse(line)
  if (c.cmd === "wait") {
    await until(() => field(c.field) === c.value)
    say({ step: "received", field: c.field, value: field(c.field) })
  } else if (c.cmd === "edit") {
    // Answers are scalar strings: JavaScript writes them as ImmutableString.
    handle.change((d) => {
      d.draft.fields[c.field] = new ImmutableString(c.value)
    })
    say({ step: "edited", field: c.field })
  } else if (c.cmd === "text") {
    // A plain JavaScript string becomes a text object, which the server refuses (wrong_type).
    handle.change((d) => {
      d.draft.fields[c.field] = c.value
    })
    say({ step: "edited", field: c.field })
  } else if (c.cmd === "drop") {
    // As a network failure would: no closing handshake.
    adapter.socket.terminate()
    say({ step: "dropped" })
  } else if (c.cmd === "quit") {
    last = { step: "done", connections: opened, heads: handle.heads().length, refusal_frames: refusalFrames }
    break
  }
}
say(last ?? { step: "stdin_closed" })
process.exit(0)
