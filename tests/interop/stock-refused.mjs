// A stock automerge-repo client (no Baoming code) that writes a change the server refuses, builds
// an answer on it, then loses its connection a few times, as a phone on a bad network does. It
// counts its connections and every frame the server sends it from the refused write on.
// Usage: node stock-refused.mjs <http-base-url> <session-token> <document-id> <observe-ms> <reconnects>
// Prints one JSON line per step; the Rust test reads them.
import { Repo, cbor } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { ImmutableString } from "@automerge/automerge"

const [base, token, documentId, observeMs, reconnects] = process.argv.slice(2)
const say = (o) => console.log(JSON.stringify(o))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// A sync ticket is single use: one per connection.
async function ticketUrl() {
  const r = await fetch(`${base}/api/sync/tickets`, { method: "POST", headers: { authorization: `Bearer ${token}` } })
  if (r.status !== 201) throw new Error(`ticket: ${r.status}`)
  const { ticket } = await r.json()
  return `${base.replace(/^http/, "ws")}/api/sync?ticket=${ticket}`
}

const tally = { connections: 0, frames: [] }
async function connection() {
  const adapter = new WebSocketClientAdapter(await ticketUrl(), 600_000)
  const receive = adapter.receiveMessage.bind(adapter)
  adapter.receiveMessage = (bytes) => {
    try {
      tally.frames.push(String(cbor.decode(new Uint8Array(bytes)).type))
    } catch {
      tally.frames.push("undecodable")
    }
    receive(bytes)
  }
  tally.connections += 1
  return adapter
}

let current = await connection()
const repo = new Repo({ network: [current], sharePolicy: async () => true })
const handle = await repo.find(`automerge:${documentId}`)
handle.change((d) => {
  d.draft.fields.name = new ImmutableString("孙九")
})
await sleep(1500)
say({ step: "accepted" })

const mark = { connections: tally.connections, frames: tally.frames.length }
// A plain string is a text object, which the server refuses (wrong_type); the next answer is
// built on it, so the server can never take it either.
handle.change((d) => {
  d.draft.fields.address = "a text object, not an answer"
})
await sleep(500)
handle.change((d) => {
  d.draft.fields.mobile = new ImmutableString("13400134000")
})
const every = Number(observeMs) / (Number(reconnects) + 1)
for (let i = 0; i < Number(reconnects); i++) {
  await sleep(every)
  repo.networkSubsystem.removeNetworkAdapter(current)
  current = await connection()
  repo.networkSubsystem.addNetworkAdapter(current)
}
await sleep(every)
say({ step: "observed", connections: tally.connections - mark.connections, frames: tally.frames.slice(mark.frames) })
process.exit(0)
