// A stock automerge-repo client (no Baoming code) syncing a registration draft with the server.
// Usage: node stock-client.mjs <ws-url-with-ticket> <document-id> <name>
// Prints one JSON line per step; the Rust test reads them.
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { ImmutableString } from "@automerge/automerge"

const [url, documentId, name] = process.argv.slice(2)
const say = (o) => console.log(JSON.stringify(o))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// The ticket in the URL is single use: no reconnect attempts during this short run.
const repo = new Repo({ network: [new WebSocketClientAdapter(url, 600_000)], sharePolicy: async () => true })
const handle = await repo.find(`automerge:${documentId}`)
const doc = handle.doc()
say({ step: "found", exam: String(doc.exam), status: doc.server?.status === undefined ? null : String(doc.server.status) })

// Answers are scalar strings: JavaScript writes them as ImmutableString.
handle.change((d) => {
  d.draft.fields.name = new ImmutableString(name)
})
await sleep(1500)
// A plain JavaScript string becomes a text object, which the server refuses (wrong_type).
handle.change((d) => {
  d.draft.fields.address = "a text object, not an answer"
})
await sleep(1500)
say({ step: "done", heads: handle.heads().length })
process.exit(0)
