// What a browser does for a page's WebSocket, for the `ws` package in Node: it sends the
// cookies of the server's origin (here the one cookie jar entry the page was given) and the
// page's Origin. automerge-repo's stock WebSocket adapter builds its socket with
// `new WebSocket(url)` from the `isomorphic-ws` package and takes no socket factory;
// browser-websocket-hooks.mjs resolves `isomorphic-ws` to this module, so the stock adapter,
// unchanged, opens this socket instead. `browser.onOpen` hears of every connection.
import WebSocket from "ws"

export const browser = { cookie: undefined, origin: undefined, onOpen: undefined }

export default class BrowserWebSocket extends WebSocket {
  constructor(url, protocols, options = {}) {
    const headers = { ...(options.headers ?? {}) }
    if (browser.cookie) headers.cookie = browser.cookie
    super(url, protocols, { ...options, headers, origin: browser.origin })
    this.addEventListener("open", () => browser.onOpen?.())
  }
}
