// A stock automerge-repo client (no Baoming code) that gets stuck on a refused change and
// recovers as protocol.md §6 tells a third-party client to: it reads the server's copy of the
// document, sees that it holds a change the server refused, drops its own copy, continues from
// the server's (with a fresh actor) and makes its edit again.
// Usage: node stock-recover.mjs <http-base-url> <session-token> <document-id>
// Prints one JSON line per step; the Rust test reads them.
import { Repo, cbor } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import * as A from "@automerge/automerge"

const [base, token, documentId] = process.argv.slice(2)
const say = (o) => console.log(JSON.stringify(o))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const authorization = `Bearer ${token}`

const r = await fetch(`${base}/api/sync/tickets`, { method: "POST", headers: { authorization } })
const { ticket } = await r.json()
const url = `${base.replace(/^http/, "ws")}/api/sync?ticket=${ticket}`

// GET /api/sync/documents/{documentId}: the server's whole document, heads and refusals (CBOR).
async function serverCopy() {
  const answer = await fetch(`${base}/api/sync/documents/${documentId}`, { headers: { authorization } })
  if (answer.status !== 200) throw new Error(`copy: ${answer.status}`)
  return cbor.decode(new Uint8Array(await answer.arrayBuffer()))
}
// A replica holding any change the server names as refused is stuck: every edit it makes builds
// on that change, and the server can never take one.
const holdsRefused = (doc, copy) => copy.refused.some((r) => r.changes.some((h) => A.hasHeads(doc, [h])))

const repo = new Repo({ network: [new WebSocketClientAdapter(url, 600_000)], sharePolicy: async () => true })
const docUrl = `automerge:${documentId}`
let handle = await repo.find(docUrl)
handle.change((d) => {
  d.draft.fields.name = new A.ImmutableString("郑十二")
})
await sleep(1000)
// A text object where an answer goes (wrong_type), then an answer built on it.
handle.change((d) => {
  d.draft.fields.address = "a text object, not an answer"
})
await sleep(500)
handle.change((d) => {
  d.draft.fields.mobile = new A.ImmutableString("13300133000")
})
await sleep(1500)
let copy = await serverCopy()
say({
  step: "stuck",
  stuck: holdsRefused(handle.doc(), copy),
  synced: A.hasHeads(A.load(copy.document), A.getHeads(handle.doc())),
  refused: copy.refused.flatMap((r) => r.refused),
})

// Recovery: forget the local copy, continue from the server's document under the same id (a
// fresh Automerge replica, so a fresh actor), and make the edit again.
repo.delete(docUrl)
handle = repo.import(copy.document, { docId: documentId })
handle.change((d) => {
  d.draft.fields.mobile = new A.ImmutableString("13300133000")
})
await sleep(1500)
copy = await serverCopy()
say({
  step: "recovered",
  stuck: holdsRefused(handle.doc(), copy),
  synced: A.hasHeads(A.load(copy.document), A.getHeads(handle.doc())),
})
process.exit(0)
